"""What an RSX document's ``TsetPurposeCode`` asks of the target, as a ledger effect: the
same for every integration that reads SPS documents (docs/revisions-sps-intacct.md,
docs/revisions-sps-qbo.md). A code missing here is one no rule applies: a person decides."""

PURPOSE_EFFECTS = {"00": "create", "06": "create", "07": "create", "04": "update", "05": "replace", "01": "cancel"}
