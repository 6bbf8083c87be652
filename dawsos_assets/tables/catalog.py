"""What each DawsOS table means to a portfolio manager: the descriptions shown in the Dagster UI."""

from __future__ import annotations

TABLE_DESCRIPTIONS = {
    "users": "People who sign in to DawsOS; each portfolio belongs to one of them.",
    "portfolios": "The portfolios under management: owner, base currency and benchmark.",
    "securities": "The security master: every instrument a lot, price or beta may refer to.",
    "pricing_packs": "Immutable end-of-day snapshots of prices and FX; every valuation names the pack it used.",
    "prices": "Closing prices per security per pricing pack, in the security's trading currency.",
    "fx_rates": "Exchange rates per currency pair per pricing pack (quote units per one base unit).",
    "lots": "Tax lots: each purchase of a security, how many shares remain open and what they cost.",
    "transactions": "The trade and cash ledger: buys, sells, dividends and fees, each with its amount.",
    "portfolio_daily_values": "Daily net asset value per portfolio (positions plus cash) and the day's external flows; "
    "the basis of time-weighted returns.",
    "portfolio_cash_flows": "Deposits, withdrawals, dividends and fees per portfolio and day.",
    "portfolio_metrics": "Nightly performance and risk figures per portfolio and pricing pack "
    "(TWR, volatility, Sharpe).",
    "macro_indicators": "FRED macro series (yield curve, unemployment, CPI, GDP, credit spreads) by date.",
    "regime_history": "The detected macro regime by date, with its confidence and regime probabilities.",
    "cycle_phases": "Short-term debt, long-term debt and empire cycle phases by date.",
    "position_factor_betas": "Each position's sensitivity to macro factors (rates, inflation, credit, USD, equity).",
    "scenario_shocks": "Stress scenarios: the factor shocks each scenario applies.",
    "dar_history": "Drawdown-at-risk results per portfolio, date and regime.",
    "scenario_results": "Stress-test results per portfolio, scenario and date.",
    "audit_log": "Who did what, when: sign-ins and changes, and every row this project quarantines or relinks.",
    "fundamentals": "Company fundamentals (margins, returns, leverage, dividend record) that feed the ratings.",
    "news_items": "News headlines with sentiment and impact, tagged by symbol.",
    "corporate_actions": "Upcoming dividends, splits and earnings dates per security.",
    "rating_rubrics": "Weights of the dividend-safety, moat and resilience ratings.",
    "migration_history": "The legacy ledger of schema migrations, including the colliding numbers 009 and 010.",
}
