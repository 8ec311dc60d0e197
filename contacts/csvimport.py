"""CSV import in the shape of the Marketplace licenses report, used by the contacts admin."""

import csv
import io

from core.exceptions import ValidationFailed

COLUMNS = {
    "addonLicenseId",
    "status",
    "cloudSiteHostname",
    "appEntitlementId",
    "appEntitlementNumber",
    "licenseType",
    "lastUpdated",
    "technicalContactEmail",
    "technicalContactName",
    "billingContactEmail",
    "billingContactName",
}
MAX_ROWS = 50_000


def records_from_csv(data: bytes) -> list[dict]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed({"file": "must be UTF-8 CSV"}) from None
    reader = csv.DictReader(io.StringIO(text))
    missing = {"addonLicenseId", "status"} - set(reader.fieldnames or [])
    if missing:
        raise ValidationFailed({"file": f"missing column(s): {', '.join(sorted(missing))}"})
    records = []
    for row in reader:
        if len(records) >= MAX_ROWS:
            raise ValidationFailed({"file": f"at most {MAX_ROWS} rows per import"})
        record = {k: (row.get(k) or "").strip() for k in COLUMNS if k in row}
        record["contactDetails"] = {
            "technicalContact": {
                "email": record.pop("technicalContactEmail", ""),
                "name": record.pop("technicalContactName", ""),
            },
            "billingContact": {
                "email": record.pop("billingContactEmail", ""),
                "name": record.pop("billingContactName", ""),
            },
        }
        records.append(record)
    return records
