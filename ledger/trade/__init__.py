"""The business rules of the import-traceability system built on the core: customs decisions
and the risk engine with its rule sets as data (`customs`, `risk`, `risk_rules/`), complaints,
issuing a lot's codes with unguessable serials and printing their labels (`issuance`,
`serials`, `labels`), the consumer profile (`profile`) and the console's read models
(`console`).
"""
