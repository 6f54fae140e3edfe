package daemon

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scfd/scfd/internal/store"
)

// Each interval, the records of signatures expired for longer than the
// margin go; the others stay.
func TestExpireSignatures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		st, err := store.Open(ctx, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		t0 := time.Now() // the bubble's
		for key, expires := range map[string]time.Time{"soon": t0.Add(30 * time.Second), "later": t0.Add(10 * time.Minute)} {
			if _, _, _, err := st.ClaimSignature(ctx, []byte(key), "GetFunction", "192.0.2.1", t0, expires); err != nil {
				t.Fatal(err)
			}
		}
		count := func() (n int) {
			t.Helper()
			if err := st.DB().QueryRow(`SELECT count(*) FROM signature_uses`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		done := make(chan struct{})
		go func() {
			expireSignatures(ctx, st, time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
			close(done)
		}()
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if n := count(); n != 2 {
			t.Errorf("a minute on: %d records, want 2 (the expired one within the margin)", n)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := count(); n != 1 {
			t.Errorf("two minutes on: %d records, want 1", n)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if n := count(); n != 0 {
			t.Errorf("twelve minutes on: %d records, want 0", n)
		}
		cancel()
		<-done
	})
}
