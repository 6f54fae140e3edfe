package store

import "fmt"

// dialect is what differs between the two databases the store keeps its
// tables in. Everything else is one SQL text for both: placeholders are
// "?" (numbered for PostgreSQL by its connections, see pgConn), upserts
// are INSERT ... ON CONFLICT, and migrations use SQLite's type names
// (read as PostgreSQL's by pgMigration).
type dialect struct {
	name string
	// lockStore and lockWriter are run first in the store's and the
	// Writer's transactions; "" when BEGIN locks enough already.
	lockStore, lockWriter string
	// notify is run last in the store's transactions, to tell other
	// processes that functions may have changed; "" when none share the
	// database.
	notify string
	// migration turns a migration's text into this database's.
	migration func(string) string
	// jsonField is the text of the member key of the JSON object in the
	// text expression col.
	jsonField func(col, key string) string
	// jsonElems is a table source, named alias, of the elements of the
	// JSON array at key of the object in col: alias.value is each element
	// (read its members with jsonField).
	jsonElems func(col, key, alias string) string
	// jsonStrings is a table source, named alias, of the strings of the
	// JSON array in col: alias.value is each string.
	jsonStrings func(col, alias string) string
}

var sqlite = dialect{
	name:      "sqlite",
	migration: func(m string) string { return m },
	jsonField: func(col, key string) string { return fmt.Sprintf("json_extract(%s, '$.%s')", col, key) },
	jsonElems: func(col, key, alias string) string {
		return fmt.Sprintf("json_each(%s, '$.%s') AS %s", col, key, alias)
	},
	jsonStrings: func(col, alias string) string { return fmt.Sprintf("json_each(%s) AS %s", col, alias) },
}

var postgres = dialect{
	name:       "postgres",
	lockStore:  fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", lockStore),
	lockWriter: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", lockWriter),
	notify:     fmt.Sprintf("SELECT pg_notify('%s', '')", notifyChannel),
	migration:  pgMigration,
	jsonField:  func(col, key string) string { return fmt.Sprintf("(%s::jsonb->>'%s')", col, key) },
	jsonElems: func(col, key, alias string) string {
		// Lax jsonpath: a missing or null member has no elements.
		return fmt.Sprintf("jsonb_path_query(%s::jsonb, '$.%s[*]') AS %s(value)", col, key, alias)
	},
	jsonStrings: func(col, alias string) string {
		return fmt.Sprintf("jsonb_array_elements_text(%s::jsonb) AS %s(value)", col, alias)
	},
}
