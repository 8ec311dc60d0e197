"""CSV import in the shape of the Marketplace licenses report, used by the contacts admin."""

import csv
import io

from checklists.validation import clean_csv_field
from core.exceptions import ValidationFailed

# Each column and the longest value its field holds (contacts/models.py): longer is refused, never cut.
COLUMNS = {
    "addonLicenseId": 64,
    "status": 32,
    "cloudSiteHostname": 255,
    "appEntitlementId": 128,
    "appEntitlementNumber": 128,
    "licenseType": 32,
    "lastUpdated": 32,
    "technicalContactEmail": 254,
    "technicalContactName": 200,
    "billingContactEmail": 254,
    "billingContactName": 200,
}
MAX_ROWS = 50_000
MAX_ERRORS_SHOWN = 20


def records_from_csv(data: bytes) -> list[dict]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed({"file": "must be UTF-8 CSV"}) from None
    try:
        return _records(text)
    except csv.Error as exc:  # a cell over the csv module's field limit, a broken quote: the file's fault, a 400
        raise ValidationFailed({"file": f"is not readable as CSV ({exc})"}) from None


def _records(text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    missing = {"addonLicenseId", "status"} - set(reader.fieldnames or [])
    if missing:
        raise ValidationFailed({"file": f"missing column(s): {', '.join(sorted(missing))}"})
    records = []
    errors: dict[str, str] = {}
    for row_no, row in enumerate(reader, start=2):  # row 1 is the header
        if len(records) >= MAX_ROWS:
            raise ValidationFailed({"file": f"at most {MAX_ROWS} rows per import"})
        record = {}
        for name, max_length in COLUMNS.items():
            if name not in row:
                continue
            where = f"row {row_no}, {name}"
            try:
                # The same character rules as checklist text (checklists/validation.py): one line, no control
                # characters, at most the field's length.
                record[name] = clean_csv_field(row.get(name), where, max_length=max_length)
            except ValidationFailed as exc:
                if len(errors) < MAX_ERRORS_SHOWN:
                    errors.update(exc.errors)
                else:
                    errors["file"] = "more errors not shown"
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
    if errors:
        raise ValidationFailed(errors)
    return records
