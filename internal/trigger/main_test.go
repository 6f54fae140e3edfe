package trigger

import (
	"os"
	"testing"

	"github.com/scfd/scfd/internal/store/storetest"
)

// The tests run with the store on SQLite, then again on PostgreSQL.
func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }
