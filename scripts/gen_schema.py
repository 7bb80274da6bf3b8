"""Write costcli/schema/results.schema.json from the results models.

python scripts/gen_schema.py           # rewrite the checked-in schema
python scripts/gen_schema.py --check   # exit 1 if it has drifted from the models
"""

from __future__ import annotations

import json
import sys

from costcli.results.document import SCHEMA_FILE, json_schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = schema_text()
    if "--check" in argv:
        current = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
        if current != text:
            print(f"{SCHEMA_FILE} is out of date; run python scripts/gen_schema.py")
            return 1
        return 0
    SCHEMA_FILE.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
