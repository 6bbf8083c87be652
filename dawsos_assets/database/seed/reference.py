"""Reference facts for the demo data set, restated from DawsOS's seeds, DDL-embedded rows and config."""

from __future__ import annotations

import uuid
from datetime import date

# Deterministic ids for rows the repository names only by string (e.g. the plan's 'test-portfolio-001').
NAMESPACE = uuid.UUID("6f1b7a52-6a0e-4f1e-9d3c-0a5c2d7e4b10")


def stable_id(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, name))


LEGACY_AS_OF = date(2025, 11, 4)  # the plan's date: the last pricing pack of the demo database
HISTORY_START = date(2023, 11, 1)

ADMIN_USER_ID = "00000000-0000-0000-0000-000000000000"
DEMO_USER_ID = "11111111-1111-1111-1111-111111111111"
MICHAEL_USER_ID = stable_id("user:michael@dawsos.com")
USERS = [
    (ADMIN_USER_ID, "admin@dawsos.com", "ADMIN"),
    (DEMO_USER_ID, "user@dawsos.com", "USER"),
    (MICHAEL_USER_ID, "michael@dawsos.com", "ADMIN"),
]

DEMO_PORTFOLIO_ID = "64ff3be6-0ed1-4990-a32b-4ded17f0320c"
ALPHA_PORTFOLIO_ID = stable_id("portfolio:test-portfolio-001")
ALPHA_NAME = "Test Portfolio Alpha"

# symbol, id, name, type, exchange, currency, domicile, sector, reference close at LEGACY_AS_OF
DEMO_SECURITIES = [
    ("CNR", "3406c701-34b0-4ba5-ad9a-ef54df4e37e2", "Canadian National Railway", "equity", "TSX", "CAD", "CA", "Industrials", 169.25),
    ("BAM", "fc31a905-53b4-44fe-9f77-56ce5e9ecda4", "Brookfield Asset Management", "equity", "NYSE", "USD", "CA", "Financial Services", 44.60),
    ("BBUC", "40f59d8f-c3ca-4b95-9c17-1fadbef1c213", "BlackRock USD Cash Fund", "etf", "NYSE", "USD", "US", "Financial Services", 1.00),
    ("BRK.B", "0b225e3f-5c2c-4dc6-8d3c-2bcf9700c32c", "Berkshire Hathaway Inc. Class B", "equity", "NYSE", "USD", "US", "Financial Services", 457.54),
    ("BTI", "e778134c-818b-4dbd-b5ba-31bf211a1841", "British American Tobacco", "equity", "NYSE", "USD", "GB", "Consumer Defensive", 36.89),
    ("EVO", "c9520fc4-b809-44a4-9f1c-53d9c3159382", "Evolution Gaming", "equity", "NASDAQ", "EUR", "SE", "Technology", 87.43),
    ("HHC", "89d7721e-9115-4806-ac41-a83c963feeee", "Howard Hughes Corporation", "equity", "NYSE", "USD", "US", "Real Estate", 81.52),
    ("NKE", "3a11ade4-5b85-4d3d-89dc-aaeed10dd8bc", "Nike Inc", "equity", "NYSE", "USD", "US", "Consumer Cyclical", 72.85),
    ("PYPL", "db4b10cc-3d43-4ec2-b9fe-2cae36d9d106", "PayPal Holdings", "equity", "NASDAQ", "USD", "US", "Technology", 81.63),
]
TEST_SECURITIES = [
    ("AAPL", "33333333-3333-3333-3333-333333333301", "Apple Inc", "equity", "NASDAQ", "USD", "US", "Technology", 185.23),
    ("GOOGL", "33333333-3333-3333-3333-333333333302", "Alphabet Inc Class A", "equity", "NASDAQ", "USD", "US", "Technology", 168.92),
    ("MSFT", "33333333-3333-3333-3333-333333333303", "Microsoft Corp", "equity", "NASDAQ", "USD", "US", "Technology", 412.67),
    ("SPY", "33333333-3333-3333-3333-333333333304", "SPDR S&P 500 ETF", "etf", "NYSE", "USD", "US", "Other", 560.00),
]
# More of the tickers in DawsOS's hard-coded sector map and the pack build job's Canadian names.
OTHER_SECURITIES = [
    ("NVDA", "Technology", "USD", 120.0), ("META", "Technology", "USD", 520.0), ("ADBE", "Technology", "USD", 510.0),
    ("CRM", "Technology", "USD", 270.0), ("ORCL", "Technology", "USD", 160.0), ("AMD", "Technology", "USD", 150.0),
    ("AMZN", "Consumer Cyclical", "USD", 178.34), ("TSLA", "Consumer Cyclical", "USD", 240.0), ("HD", "Consumer Cyclical", "USD", 380.0),
    ("JPM", "Financial Services", "USD", 210.0), ("BAC", "Financial Services", "USD", 41.0), ("V", "Financial Services", "USD", 280.0),
    ("MA", "Financial Services", "USD", 480.0), ("JNJ", "Healthcare", "USD", 160.0), ("PFE", "Healthcare", "USD", 29.0),
    ("UNH", "Healthcare", "USD", 560.0), ("LLY", "Healthcare", "USD", 890.0), ("XOM", "Energy", "USD", 118.0),
    ("CVX", "Energy", "USD", 155.0), ("WMT", "Consumer Defensive", "USD", 80.0), ("PG", "Consumer Defensive", "USD", 170.0),
    ("KO", "Consumer Defensive", "USD", 70.0), ("PEP", "Consumer Defensive", "USD", 165.0), ("COST", "Consumer Defensive", "USD", 900.0),
    ("DIS", "Communication Services", "USD", 95.0), ("NFLX", "Communication Services", "USD", 700.0), ("VZ", "Communication Services", "USD", 42.0),
    ("RY.TO", "Financial Services", "CAD", 142.56), ("TD.TO", "Financial Services", "CAD", 78.45), ("ENB.TO", "Energy", "CAD", 51.23),
    ("XIU.TO", "Other", "CAD", 37.82), ("VFV.TO", "Other", "CAD", 115.34), ("XIC.TO", "Other", "CAD", 35.21),
]

# Demo portfolio transactions (DawsOS's seed_portfolio_data.sql): (symbol, type, date, quantity, price or amount)
DEMO_TRADES = [
    ("BRK.B", "BUY", date(2023, 12, 1), 100, 330), ("BBUC", "BUY", date(2024, 1, 10), 50_000, 1.00),
    ("CNR", "BUY", date(2024, 1, 15), 200, 155), ("BTI", "BUY", date(2024, 1, 20), 500, 32),
    ("PYPL", "BUY", date(2024, 1, 25), 300, 55), ("BAM", "BUY", date(2024, 2, 5), 500, 42),
    ("EVO", "BUY", date(2024, 2, 10), 150, 95), ("HHC", "BUY", date(2024, 2, 20), 200, 65),
    ("NKE", "BUY", date(2024, 3, 1), 200, 95), ("BRK.B", "BUY", date(2024, 3, 15), 50, 345),
    ("BTI", "BUY", date(2024, 4, 15), 300, 33.50), ("PYPL", "BUY", date(2024, 5, 10), 200, 58),
    ("BAM", "BUY", date(2024, 5, 20), 300, 45), ("EVO", "BUY", date(2024, 6, 5), 100, 102),
    ("HHC", "BUY", date(2024, 7, 5), 100, 72), ("NKE", "SELL", date(2024, 7, 15), 100, 82),
    ("CNR", "BUY", date(2024, 8, 10), 100, 162), ("PYPL", "SELL", date(2024, 8, 20), 100, 65),
    ("NKE", "BUY", date(2024, 9, 10), 150, 73), ("BAM", "SELL", date(2024, 9, 15), 200, 52),
    ("BRK.B", "SELL", date(2024, 10, 1), 20, 365),
]
DEMO_DIVIDENDS = [
    ("CNR", date(2024, 3, 31), 158), ("CNR", date(2024, 6, 30), 158), ("CNR", date(2024, 9, 30), 158),
    ("BAM", date(2024, 6, 15), 180), ("BBUC", date(2024, 2, 29), 208.33), ("BBUC", date(2024, 3, 31), 208.33),
    ("BBUC", date(2024, 4, 30), 208.33), ("BTI", date(2024, 2, 15), 360), ("BTI", date(2024, 5, 15), 360),
    ("BTI", date(2024, 8, 15), 360), ("EVO", date(2024, 5, 20), 125), ("NKE", date(2024, 4, 1), 74),
    ("NKE", date(2024, 7, 1), 37), ("NKE", date(2024, 10, 1), 55.50),
]
# Demo lots: only `quantity` set = remaining shares; cost_basis includes fees (seed_portfolio_data.sql).
# (symbol, acquisition date, quantity, cost_basis, cost_basis_per_share)
DEMO_LOTS = [
    ("CNR", date(2024, 1, 15), 200, 31_010, 155.05), ("CNR", date(2024, 8, 10), 100, 16_210, 162.10),
    ("BAM", date(2024, 2, 5), 300, 12_610, 42.03), ("BAM", date(2024, 5, 20), 300, 13_510, 45.03),
    ("BBUC", date(2024, 1, 10), 50_000, 50_000, 1.00),
    ("BRK.B", date(2023, 12, 1), 80, 26_410, 330.13), ("BRK.B", date(2024, 3, 15), 50, 17_260, 345.20),
    ("BTI", date(2024, 1, 20), 500, 16_010, 32.02), ("BTI", date(2024, 4, 15), 300, 10_060, 33.53),
    ("EVO", date(2024, 2, 10), 150, 14_265, 95.10), ("EVO", date(2024, 6, 5), 100, 10_215, 102.15),
    ("NKE", date(2024, 3, 1), 100, 9_510, 95.10), ("NKE", date(2024, 9, 10), 150, 10_960, 73.07),
    ("PYPL", date(2024, 1, 25), 200, 11_010, 55.05), ("PYPL", date(2024, 5, 10), 200, 11_610, 58.05),
    ("HHC", date(2024, 2, 20), 200, 13_010, 65.05), ("HHC", date(2024, 7, 5), 100, 7_210, 72.10),
]
# The plan's Test Portfolio Alpha: (symbol, quantity, cost_basis, cost_basis_per_share)
ALPHA_LOTS = [("AAPL", 100, 15_000, 150), ("MSFT", 50, 17_500, 350), ("GOOGL", 75, 22_500, 300)]
ALPHA_ACQUISITION = date(2024, 1, 2)

# FRED series catalog (data/seeds/macro/fred_series_catalog.json): id, name, units, frequency, start level, daily drift, daily volatility
FRED_SERIES = [
    ("T10Y2Y", "10-Year minus 2-Year Treasury spread", "Percent", "Daily", -0.35, 0.0012, 0.03),
    ("UNRATE", "Unemployment rate", "Percent", "Monthly", 3.8, 0.0004, 0.01),
    ("CPIAUCSL", "CPI-U all items, US city average", "Index 1982-84=100", "Monthly", 307.0, 0.0001, 0.0008),
    ("GDP", "Gross domestic product", "Billions of $", "Quarterly", 27_600.0, 0.00018, 0.001),
    ("PAYEMS", "Total nonfarm employees", "Thousands of persons", "Monthly", 156_800.0, 0.00004, 0.0002),
    ("INDPRO", "Industrial production index", "Index 2017=100", "Monthly", 102.5, 0.00001, 0.002),
    ("HOUST", "Housing starts, new private units", "Thousands of units", "Monthly", 1_420.0, -0.0001, 0.01),
    ("BAA10Y", "Moody's Baa corporate yield minus 10-Year Treasury", "Percent", "Daily", 1.85, -0.0004, 0.015),
]
REGIMES = ["EARLY_EXPANSION", "MID_EXPANSION", "LATE_EXPANSION", "EARLY_CONTRACTION", "DEEP_CONTRACTION"]

# mig 009's nine shock rows: shock_type, name, rr, infl, credit (bps), usd, equity (decimals)
MIG009_SHOCKS = [
    ("rates_up", "Rates Up +100bp", 100, 0, 0, 0, 0), ("rates_down", "Rates Down -100bp", -100, 0, 0, 0, 0),
    ("usd_up", "USD Up +5%", 0, 0, 0, 0.05, 0), ("usd_down", "USD Down -5%", 0, 0, 0, -0.05, 0),
    ("cpi_surprise", "CPI Surprise +1%", 0, 100, 0, 0, 0),
    ("credit_spread_widening", "Credit Spreads Widen +50bp", 0, 0, 50, 0, 0),
    ("credit_spread_tightening", "Credit Spreads Tighten -50bp", 0, 0, -50, 0, 0),
    ("equity_selloff", "Equity Selloff -10%", 0, 0, 0, 0, -0.10), ("equity_rally", "Equity Rally +10%", 0, 0, 0, 0, 0.10),
]
# The scenario library (data/seeds/scenarios/*.json): family, shock_type, name, rr, infl, credit, usd, equity, commodity, vol, prob, severity
SCENARIO_LIBRARY = [
    ("standard", "fed_severely_adverse", "Fed Severely Adverse Scenario (CCAR)", -150, -50, 300, .10, -.50, -.35, 1.5, .05, "extreme"),
    ("standard", "fed_adverse", "Fed Adverse Scenario (CCAR)", -75, -25, 150, .05, -.25, -.15, .6, .15, "moderate"),
    ("standard", "flash_crash", "Flash Crash (Liquidity Crisis)", -50, 0, 200, .08, -.15, -.10, 2.0, .08, "high"),
    ("standard", "stagflation_1970s", "Stagflation (1970s Analog)", 300, 400, 150, 0, -.10, .60, .5, .10, "high"),
    ("standard", "emerging_market_contagion", "Emerging Market Contagion", -100, -25, 200, .15, -.15, -.20, .8, .12, "moderate"),
    ("standard", "china_hard_landing", "China Hard Landing", -125, -75, 250, .12, -.25, -.40, 1.0, .08, "high"),
    ("standard", "cyber_systemic_risk", "Systemic Cyber Event", 0, 0, 300, .05, -.25, .15, 2.0, .03, "extreme"),
    ("standard", "climate_tipping_point", "Climate Tipping Point Event", 50, 150, 100, -.05, -.12, .40, .7, .10, "high"),
    ("standard", "parallel_1987_crash", "1987 Crash Analog (Black Monday)", -25, 0, 75, .03, -.23, -.05, 1.5, .05, "high"),
    ("standard", "volmageddon_2_0", "Volmageddon 2.0 (VIX Spike)", -50, 0, 100, .05, -.12, -.05, 3.0, .08, "moderate"),
    ("debt_cycle", "dalio_austerity_deleveraging", "Austerity Deleveraging (Deflationary)", -75, -50, 100, .08, -.20, -.15, .5, .15, "high"),
    ("debt_cycle", "dalio_default_deleveraging", "Default/Restructuring Deleveraging (Deep Deflation)", -150, -100, 300, .15, -.40, -.30, 1.0, .05, "extreme"),
    ("debt_cycle", "dalio_money_printing_deleveraging", "Money Printing Deleveraging (Inflationary)", 25, 150, -50, -.12, .05, .35, .3, .25, "moderate"),
    ("debt_cycle", "dalio_balanced_beautiful_deleveraging", "Beautiful Deleveraging (Balanced Mix)", -25, 25, -25, 0, .12, .08, .1, .40, "low"),
    ("debt_cycle", "dalio_short_term_debt_crisis", "Short-Term Debt Crisis (STDC Peak)", 50, -25, 150, .05, -.22, -.10, .6, .20, "moderate"),
    ("debt_cycle", "dalio_long_term_debt_crisis", "Long-Term Debt Crisis (LTDC Peak)", -200, -150, 400, .20, -.50, -.40, 1.5, .02, "extreme"),
    ("empire_cycle", "dalio_empire_early_rise", "Empire Early Rise (Ascendant Power)", -25, 25, -50, -.08, .25, .15, -.2, .10, "low"),
    ("empire_cycle", "dalio_empire_peak_dominance", "Empire Peak Dominance (Global Hegemon)", -50, 0, -75, .05, .15, .05, -.3, .15, "low"),
    ("empire_cycle", "dalio_empire_late_decline_internal", "Empire Late Decline (Internal Disorder)", 75, 50, 100, -.10, -.12, .08, .7, .12, "high"),
    ("empire_cycle", "dalio_empire_decline_external", "Empire Decline (External Challenger)", 50, 100, 75, -.05, -.08, .20, .5, .18, "moderate"),
    ("empire_cycle", "dalio_reserve_currency_loss", "Reserve Currency Loss (Terminal Decline)", 200, 200, 250, -.40, -.30, .50, 1.2, .03, "extreme"),
    ("empire_cycle", "dalio_empire_transition", "Empire Transition (Handoff Period)", 0, 75, 125, -.15, 0, .25, .8, .08, "high"),
]
# schema/scenario_factor_tables.sql's three JSONB rows, factor shocks as decimals
JSONB_SCHEMA_SCENARIOS = [
    ("Money Printing Deleveraging", {"real_rates": -0.025, "inflation": 0.04, "credit_spreads": -0.01, "fx_usd": -0.08,
                                     "equity_market": 0.15, "commodity": 0.20, "volatility": 0.25}),
    ("Austerity Deleveraging", {"real_rates": 0.015, "inflation": -0.02, "credit_spreads": 0.025, "fx_usd": 0.05,
                                "equity_market": -0.20, "commodity": -0.15, "volatility": 0.40}),
    ("Default and Restructuring", {"real_rates": 0.03, "inflation": -0.03, "credit_spreads": 0.08, "fx_usd": 0.10,
                                   "equity_market": -0.35, "commodity": -0.25, "volatility": 0.60, "liquidity": -0.50}),
]
RATING_RUBRICS = {
    "dividend_safety": {"fcf_coverage": 0.35, "payout_ratio": 0.30, "growth_streak": 0.20, "net_cash": 0.15},
    "moat_strength": {"roe_consistency": 0.40, "gross_margin": 0.30, "intangibles": 0.20, "switching_costs": 0.10},
    "resilience": {"debt_equity": 0.40, "current_ratio": 0.25, "interest_coverage": 0.20, "margin_stability": 0.15},
}
# Long-form factor names (schema CHECK) and the sensitivities used to seed them per sector
BETA_FACTORS = ["real_rates", "inflation", "credit_spreads", "fx_usd", "equity_market"]
