-- mig 005_create_rls_policies: every portfolio-scoped table is visible to the user whose id the application
-- sets in app.user_id (per connection). The table owner is exempt (no FORCE), as in DawsOS.
ALTER TABLE portfolios ENABLE ROW LEVEL SECURITY;
CREATE POLICY portfolios_isolation ON portfolios FOR ALL
    USING (user_id = current_setting('app.user_id', true)::uuid);
ALTER TABLE lots ENABLE ROW LEVEL SECURITY;
CREATE POLICY lots_isolation ON lots FOR ALL
    USING (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = current_setting('app.user_id', true)::uuid));
ALTER TABLE transactions ENABLE ROW LEVEL SECURITY;
CREATE POLICY transactions_isolation ON transactions FOR ALL
    USING (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = current_setting('app.user_id', true)::uuid));
ALTER TABLE portfolio_metrics ENABLE ROW LEVEL SECURITY;
CREATE POLICY portfolio_metrics_isolation ON portfolio_metrics FOR ALL
    USING (portfolio_id IN (SELECT id FROM portfolios WHERE user_id = current_setting('app.user_id', true)::uuid));
ALTER TABLE alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY alerts_isolation ON alerts FOR ALL
    USING (user_id = current_setting('app.user_id', true)::uuid);
