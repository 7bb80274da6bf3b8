"""The ground floor: costcli's errors (one line, naming the file, the key and the fix),
the shared file reader (bytes -> text -> TOML/JSON -> validated model), redaction of
secrets, and where bundled and user files are found. Imports no other costcli package."""
