package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/scfd/scfd/internal/api"
)

// TestEveryVerb runs each client command against a real `scfd serve`,
// on the functions `scfd demo` deploys.
func TestEveryVerb(t *testing.T) {
	needRoot(t)
	env, _ := serve(t)
	mustRun(t, env, "demo", "--source", "../../examples/hello")
	const fn = "hello-event"
	ns := []string{"-n", "demo"}

	// step runs one command and checks that its output has each of want.
	step := func(args []string, want ...string) string {
		t.Helper()
		out := mustRun(t, env, args...)
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("scfd %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
			}
		}
		return out
	}
	args := func(a ...string) []string { return append(a, ns...) }
	fails := func(want string, a ...string) {
		t.Helper()
		if _, err := run(t, env, a...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("scfd %s: %v, want an error with %q", strings.Join(a, " "), err, want)
		}
	}

	t.Run("namespaces", func(t *testing.T) {
		step([]string{"ns", "create", "spare", "--description", "one"})
		step([]string{"ns", "update", "spare", "--description", "two"})
		step([]string{"ns", "ls"}, "spare", "two", "demo")
		step([]string{"ns", "rm", "spare"})
	})

	t.Run("functions", func(t *testing.T) {
		step(args("fn", "ls"), fn, "hello-web", "Active")
		step(args("fn", "update", fn, "--timeout", "10", "--wait"), "demo/hello-event: Active")
		step(args("fn", "get", fn), "10 s", "GREETING=hello from scfd")
		step(args("invoke", fn, "--event", `{"a":1}`), `"event":{"a":1}`)
		step(args("fn", "instances", fn), "INSTANCE", "$LATEST")
		step(args("logs", fn), "START RequestId:")
		fails("ResourceNotFound.Function", args("fn", "get", "nope")...)
		fails("`scfd fn ls -n NAMESPACE` lists the functions", args("fn", "get", "nope")...)
	})

	t.Run("versions", func(t *testing.T) {
		step(args("version", "publish", fn, "--description", "first"), "published demo/hello-event version 1")
		step(args("version", "publish", fn), "version 2")
		out := step(args("version", "ls", fn, "-o", "json"))
		var vs api.ListVersionByFunctionResponse
		if err := json.Unmarshal([]byte(out), &vs); err != nil || vs.TotalCount != 3 || vs.Versions[1].Description != "first" {
			t.Errorf("version ls -o json: %v %+v", err, vs)
		}
		step(args("version", "ls", fn), "VERSION", "first")
	})

	t.Run("aliases", func(t *testing.T) {
		step(args("alias", "create", fn, "live", "--version", "1", "--weight", "2=0.2", "--description", "canary"))
		step(args("alias", "get", fn, "live"), "live", "1", "2=0.2", "canary")
		step(args("alias", "update", fn, "live", "--weight", "2=0.5"))
		step(args("alias", "get", fn, "live"), "2=0.5", "canary")
		step(args("alias", "update", fn, "live", "--version", "2"))
		out := step(args("alias", "ls", fn, "-o", "json"))
		var al api.ListAliasesResponse
		if err := json.Unmarshal([]byte(out), &al); err != nil || len(al.Aliases) != 1 || al.Aliases[0].FunctionVersion != "2" ||
			len(al.Aliases[0].RoutingConfig.AdditionalVersionWeights) != 0 {
			t.Errorf("alias ls -o json after update: %v %+v", err, al)
		}
		step(args("invoke", fn, "-q", "live"), "hello from scfd")
		fails("UnsupportedOperation.AliasBind", args("version", "rm", fn, "2")...)
		step(args("alias", "rm", fn, "live"))
		step(args("alias", "ls", fn), "ALIAS")
		step(args("version", "rm", fn, "2"))
		if out := step(args("version", "ls", fn)); strings.Contains(out, "\n2 ") {
			t.Errorf("version 2 is still listed:\n%s", out)
		}
		fails("--weight \"2\": want VERSION=WEIGHT", args("alias", "create", fn, "x", "--version", "1", "--weight", "2")...)
	})

	t.Run("triggers", func(t *testing.T) {
		step(args("trigger", "add", fn, "hourly", "--type", "timer", "--cron", "0 0 * * * * *", "--argument", "hi"), "added trigger hourly (timer 0 0 * * * * *)")
		out := step(args("trigger", "add", fn, "web", "--type", "apigw"), "added trigger web: http://")
		if !regexp.MustCompile(`/demo/hello-event/apigw/web`).MatchString(out) {
			t.Errorf("apigw trigger's URL: %s", out)
		}
		step(args("trigger", "disable", fn, "hourly"))
		out = step(args("trigger", "add", fn, "link", "--type", "http", "--auth", "CAM"), "added trigger link: http://")
		if !regexp.MustCompile(`/demo/hello-event/url/link/`).MatchString(out) {
			t.Errorf("function URL: %s", out)
		}
		step(args("trigger", "ls", fn), "hourly", "timer", "false", "web", "apigw", "true", "link", "http")
		step(args("trigger", "enable", fn, "hourly"))
		out = step(args("trigger", "ls", fn, "-o", "json"))
		var tr api.ListTriggersResponse
		if err := json.Unmarshal([]byte(out), &tr); err != nil || tr.TotalCount != 3 || tr.Triggers[0].Enable != 1 || tr.Triggers[1].Enable != 1 {
			t.Errorf("trigger ls -o json: %v %+v", err, tr)
		}
		step(args("trigger", "rm", fn, "hourly"))
		step(args("trigger", "rm", fn, "web"))
		step(args("trigger", "rm", fn, "link"))
		// A timer whose alias is then deleted says it cannot run.
		step(args("alias", "create", fn, "nope", "--version", "$LATEST"))
		step(args("trigger", "add", fn, "nightly", "--cron", "0 0 2 * * * *", "-q", "nope"))
		step(args("alias", "rm", fn, "nope"))
		step(args("trigger", "ls", fn), "nightly", "Unavailable: alias nope does not exist", "-")
		step(args("trigger", "rm", fn, "nightly"))
		fails("a timer needs --cron", args("trigger", "add", fn, "t")...)
		fails("ResourceNotFound.Trigger", args("trigger", "rm", fn, "web")...)
	})

	t.Run("concurrency", func(t *testing.T) {
		step(args("concurrency", "reserved", "put", fn, "512"))
		step(args("concurrency", "reserved", "get", fn), "512 MB reserved")
		step([]string{"account"}, "MB reserved", "demo")
		step(args("concurrency", "reserved", "rm", fn))
		step(args("concurrency", "reserved", "get", fn), "none reserved")
		step(args("concurrency", "provisioned", "put", fn, "1", "1"))
		step(args("concurrency", "provisioned", "get", fn), "VERSION", "1")
		step(args("concurrency", "provisioned", "rm", fn, "1"))
		step([]string{"concurrency", "total", "put", "128000"})
		fails("want a number of MB", args("concurrency", "reserved", "put", fn, "lots")...)
	})

	t.Run("async", func(t *testing.T) {
		step(args("async", "config", "put", fn, "--retries", "1", "--interval", "10", "--max-age", "600"))
		step(args("async", "config", "get", fn), "1", "10", "600")
		out := step(args("invoke", fn, "--async"), "queued: ")
		id := strings.TrimSpace(strings.TrimPrefix(out, "queued: "))
		step([]string{"async", "status", id}, id)
		step([]string{"async", "ls", "-n", "demo", "-f", fn}, id)
	})

	t.Run("usage", func(t *testing.T) {
		step([]string{"usage", "--since", "1h", "-n", "demo"}, "hello-event", "TOTAL")
	})

	t.Run("completion", func(t *testing.T) {
		step([]string{"__complete", "fn", "get", "-n", "demo", ""}, "hello-event\n", "hello-web\n")
		step([]string{"__complete", "invoke", "-n", ""}, "demo\n", "default\n")
		step([]string{"__complete", "trigger", "ls", "-n", "demo", "hello-"}, "hello-event\n")
		step([]string{"completion", "bash"}, "__start_scfd")
	})
}
