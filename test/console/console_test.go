// Package console tests scfd's web console end to end: the real `scfd
// serve` binary, a function from a real registry running in a real runc
// container, and the console driven in a real headless Chromium through
// the DevTools protocol (chromedp). Screenshots of each page are written
// to $SCFD_SCREENSHOTS, or to the test's temporary directory.
package console

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/tc3"
	"github.com/scfd/scfd/internal/testenv"
)

// Chromium is the Debian chromium binary (scripts/deps.sh --test installs it).
const Chromium = "/usr/bin/chromium"

var cred = tc3.Credential{SecretID: "AKIDscfdconsoletest0000000000000", SecretKey: "scfdconsolesecret000000000000000"}

func TestConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	if os.Geteuid() != 0 {
		t.Skip("functions run in runc containers, which needs root")
	}
	if _, err := os.Stat(Chromium); err != nil {
		t.Fatalf("%s is needed (scripts/deps.sh --test installs it): %v", Chromium, err)
	}
	shots := os.Getenv("SCFD_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	srv := startServer(t)
	base := srv.base
	sdk := client.New(base, cred)
	// The image every function of the test runs, in the embedded registry:
	// an event function and a web function at once (examples/hello).
	pushEmbedded(t, srv.registry, "team/hello:v1", testenv.BinaryImage(t, "../../examples/hello"))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	browser := startChromium(t, ctx)
	problems := watchConsole(t, browser)

	// shot writes the page at desktop width, then at phone width, then
	// goes back to desktop; a redrawn page (the plots) is waited for.
	step := 0
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			step++
			for _, size := range []struct {
				suffix string
				w, h   int64
			}{{"desktop", 1366, 900}, {"phone", 390, 844}, {"", 1366, 900}} {
				if _, err := chromedp.EmulateViewport(size.w, size.h)(ctx, t); err != nil {
					return err
				}
				if _, err := chromedp.Poll[chromedp.Void](`!document.querySelector("#charts") || window.scfdDrawnWidth === innerWidth`,
					chromedp.WithPollingTimeout(10*time.Second))(ctx, t); err != nil {
					return fmt.Errorf("the plots were not redrawn at %d px: %w", size.w, err)
				}
				if size.suffix == "" {
					continue // back at desktop width for the next step
				}
				png, err := chromedp.FullScreenshot(100)(ctx, t)
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(shots, fmt.Sprintf("%02d-%s-%s.png", step, name, size.suffix)), png, 0o644); err != nil {
					return err
				}
			}
			return nil
		})
	}
	run := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(browser, 90*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			page, _ := chromedp.Run(browser, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\npage text:\n%s", name, err, page)
		}
	}
	text := func(sel string, p *string) chromedp.Action[chromedp.Void] {
		return into(chromedp.Text(chromedp.CSS(sel)), p)
	}
	// choose picks value in a select and tells the page, as a user does.
	choose := func(sel, value string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			ok, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false;
				e.value = %q; e.dispatchEvent(new Event("change", {bubbles: true})); return e.value === %q; })()`, sel, value, value))(ctx, t)
			if err == nil && !ok {
				err = fmt.Errorf("%s has no option %q", sel, value)
			}
			return err
		})
	}
	fill := func(sel, value string) chromedp.Action[chromedp.Void] {
		return chromedp.SetValue(chromedp.CSS(sel), value)
	}
	// confirmAll answers the page's confirm() dialogs yes.
	confirmAll := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(window.confirm = () => true, true)`)(ctx, t)
		return err
	})

	// 1. Signed out: the sign-in form and no navigation; a wrong key is
	// refused.
	var refusal string
	var navHidden bool
	run("sign-in refused",
		chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#signin-form")),
		into(chromedp.Evaluate[bool](`getComputedStyle(document.querySelector("#nav")).display === "none"`), &navHidden),
		chromedp.SendKeys(chromedp.CSS("#secret-id"), cred.SecretID),
		chromedp.SendKeys(chromedp.CSS("#secret-key"), "not-the-secret"),
		chromedp.Click(chromedp.CSS("#signin-button")),
		chromedp.WaitVisible(chromedp.CSS("#signin-error:not(:empty)")),
		text("#signin-error", &refusal),
		shot("signin-refused"),
	)
	if !navHidden {
		t.Error("the navigation shows while signed out")
	}
	if !strings.Contains(refusal, "wrong") {
		t.Errorf("the refusal says %q", refusal)
	}

	// 2. Sign in: the empty default namespace offers to create.
	var zone string
	run("sign in",
		chromedp.SendKeys(chromedp.CSS("#secret-key"), cred.SecretKey),
		chromedp.Click(chromedp.CSS("#signin-button")),
		chromedp.WaitVisible(chromedp.CSS("#functions")),
		chromedp.WaitVisible(chromedp.CSS("#new-function")),
		chromedp.WaitVisible(chromedp.CSS("#ns-form")),
		text("#zone", &zone),
		shot("signed-in"),
	)
	if !strings.HasPrefix(zone, "Times in ") {
		t.Errorf("the header says %q, not the server's zone", zone)
	}

	// 3. Create a namespace; land in it.
	run("create a namespace",
		fill("#ns-name", "team"),
		fill("#ns-description", "the team's functions"),
		chromedp.Click(chromedp.CSS("#ns-create")),
		chromedp.Poll[chromedp.Void](`document.querySelector("#namespace") && document.querySelector("#namespace").value === "team"`),
		shot("namespace"),
	)

	// 4. Create the event function from the embedded registry, with a
	// field error first (kept beside its field), and watch it become
	// Active.
	var fieldErr string
	run("create a function",
		chromedp.Click(chromedp.CSS("#new-function")),
		chromedp.WaitVisible(chromedp.CSS("#create-form")),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#new-repo option")].some(o => o.value === "team/hello")`),
		choose("#new-repo", "team/hello"),
		choose("#new-tag", "v1"),
		fill("#new-name", "hello"),
		choose("#new-memory", "256"),
		fill("#new-timeout", "1000"),
		chromedp.Click(chromedp.CSS("#create-form .add-var")),
		chromedp.SendKeys(chromedp.CSS("#new-env .env-key"), "GREETING"),
		chromedp.SendKeys(chromedp.CSS("#new-env .env-value"), "bonjour"),
		chromedp.Click(chromedp.CSS("#new-create")),
		chromedp.WaitVisible(chromedp.CSS("#new-timeout.invalid")),
		text("#create-form .field-error", &fieldErr),
		shot("create-refused"),
		fill("#new-timeout", "10"),
		chromedp.Click(chromedp.CSS("#new-create")),
		chromedp.WaitVisible(chromedp.CSS("#function-name")),
		shot("deploying"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#function-status") && document.querySelector("#function-status").dataset.status === "Active"`,
			chromedp.WithPollingTimeout(60*time.Second)),
		chromedp.WaitVisible(chromedp.CSS("#instances")),
		shot("active"),
	)
	if !strings.Contains(fieldErr, "Timeout") {
		t.Errorf("the timeout's error says %q", fieldErr)
	}

	// 5. The web function too, from the same image.
	var webURL string
	run("create a web function",
		chromedp.Navigate(base+"/console/#/new/team"),
		chromedp.WaitVisible(chromedp.CSS("#create-form")),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#new-repo option")].some(o => o.value === "team/hello")`),
		choose("#new-repo", "team/hello"),
		fill("#new-name", "web"),
		choose("#new-type", "HTTP"),
		chromedp.Click(chromedp.CSS("#new-create")),
		chromedp.Poll[chromedp.Void](`document.querySelector("#function-status") && document.querySelector("#function-status").dataset.status === "Active"`,
			chromedp.WithPollingTimeout(60*time.Second)),
		chromedp.WaitVisible(chromedp.CSS("#web-url")),
		text("#web-url", &webURL),
		shot("web-function"),
	)
	if want := srv.gateway + "/team/web/"; webURL != want {
		t.Errorf("the web function's URL is %q, want %q", webURL, want)
	}

	// 6. The landing page is the namespace that has functions.
	var rows []string
	run("landing",
		chromedp.Navigate(base+"/console/#/"),
		chromedp.WaitVisible(chromedp.CSS(`#functions tr[data-function="hello"]`)),
		into(chromedp.Evaluate[[]string](`[...document.querySelectorAll("#functions tbody tr")].map(r => r.innerText)`), &rows),
		shot("functions"),
	)
	if len(rows) != 2 || !strings.Contains(rows[0], "Active") || !strings.Contains(rows[0], "256 MB") || !strings.Contains(rows[1], "HTTP") {
		t.Errorf("the functions of team: %q", rows)
	}

	// 7. Test the event function: a bad event is caught; a good one runs
	// and its result is pretty-printed; the event is saved by name.
	var badEvent, status, result, log, requestID, saved string
	run("test an event function",
		chromedp.Click(chromedp.CSS(`#functions tr[data-function="hello"] a`)),
		chromedp.WaitVisible(chromedp.CSS("#tab-link-test")),
		chromedp.Click(chromedp.CSS("#tab-link-test")),
		chromedp.WaitVisible(chromedp.CSS("#event")),
		chromedp.SetValue(chromedp.CSS("#event"), `{"name": `),
		chromedp.Click(chromedp.CSS("#invoke")),
		text("#event-error", &badEvent),
		chromedp.SetValue(chromedp.CSS("#event"), `{"name": "console"}`),
		fill("#event-name", "greet"),
		chromedp.Click(chromedp.CSS("#event-save")),
		text("#saved-events", &saved),
		chromedp.Click(chromedp.CSS("#invoke")),
		chromedp.WaitVisible(chromedp.CSS("#result-status")),
		text("#result-status", &status),
		into(chromedp.TextContent(chromedp.CSS("#result-body")), &result),
		text("#result-log", &log),
		text("#result-request-id", &requestID),
		shot("test-event"),
	)
	if !strings.Contains(badEvent, "not valid JSON") {
		t.Errorf("a bad event: %q, want a JSON error", badEvent)
	}
	if !strings.Contains(saved, "greet") {
		t.Errorf("the saved events: %q", saved)
	}
	if status != "Succeeded" || !strings.Contains(result, `"message": "bonjour"`) || !strings.Contains(result, "\n") || !strings.Contains(result, `"console"`) {
		t.Errorf("invocation: %q, result %q (want it indented)", status, result)
	}
	if !strings.Contains(log, "event-invoke "+requestID) {
		t.Errorf("log tail %q (request %s)", log, requestID)
	}

	// 8. Test the web function: method, path, query, headers and body
	// in; status, headers, body, time and the request's log out.
	var webStatus, webBody, webLog string
	run("test a web function",
		chromedp.Navigate(base+"/console/#/fn/team/web/test"),
		chromedp.WaitVisible(chromedp.CSS("#web-send")),
		choose("#web-method", "POST"),
		fill("#web-path", "/hi"),
		fill("#web-query", "x=1"),
		chromedp.SendKeys(chromedp.CSS("#web-headers"), "X-Test: yes"),
		chromedp.SendKeys(chromedp.CSS("#web-body"), "ping"),
		chromedp.Click(chromedp.CSS("#web-send")),
		chromedp.WaitVisible(chromedp.CSS("#web-status")),
		chromedp.Poll[chromedp.Void](`!document.querySelector("#web-log").textContent.startsWith("Reading")`),
		text("#web-status", &webStatus),
		text("#web-response-body", &webBody),
		text("#web-log", &webLog),
		shot("test-web"),
	)
	if webStatus != "200" || strings.TrimSpace(webBody) != "hello from POST /hi?x=1" || !strings.Contains(webLog, "web POST /hi") {
		t.Errorf("the web request: %q %q, log %q", webStatus, webBody, webLog)
	}

	// 9. The web function's log entries carry method, path and status.
	var webEntry string
	run("web logs",
		chromedp.Click(chromedp.CSS("#web-request-id")),
		chromedp.WaitVisible(chromedp.CSS("#logs-list details .web-request")),
		text("#logs-list details .web-request", &webEntry),
		shot("web-logs"),
	)
	if webEntry != "POST /hi → 200" {
		t.Errorf("the web request's entry says %q", webEntry)
	}
	var webLogs api.GetFunctionLogsResponse
	if err := sdk.Call(ctx, "GetFunctionLogs", api.GetFunctionLogsRequest{Namespace: "team", FunctionName: "web"}, &webLogs); err != nil {
		t.Fatal(err)
	}
	if len(webLogs.Data) != 1 || webLogs.Data[0].HTTPMethod != "POST" || webLogs.Data[0].HTTPPath != "/hi" || webLogs.Data[0].HTTPStatus != 200 {
		t.Errorf("GetFunctionLogs of the web function: %+v", webLogs.Data)
	}

	// 10. Edit the configuration: memory from the list of valid sizes; a
	// refusal stays beside its field.
	var memOptions []string
	var overview string
	run("edit the configuration",
		chromedp.Navigate(base+"/console/#/fn/team/hello/config"),
		chromedp.WaitVisible(chromedp.CSS("#instances")),
		into(chromedp.Evaluate[[]string](`[...document.querySelectorAll("#cfg-memory option")].map(o => o.value)`), &memOptions),
		fill("#cfg-timeout", "1000"),
		chromedp.Click(chromedp.CSS("#cfg-save")),
		chromedp.WaitVisible(chromedp.CSS("#cfg-form .field-error")),
		shot("config-refused"),
		choose("#cfg-memory", "512"),
		fill("#cfg-timeout", "20"),
		fill("#cfg-description", "edited in the console"),
		chromedp.Click(chromedp.CSS("#cfg-save")),
		chromedp.Poll[chromedp.Void](`document.querySelector(".kv") && document.querySelector(".kv").innerText.includes("512 MB")`),
		chromedp.WaitVisible(chromedp.CSS("#instances")),
		text(".kv", &overview),
		shot("config-saved"),
	)
	if slices.Contains(memOptions, "192") || !slices.Contains(memOptions, "64") || !slices.Contains(memOptions, "3072") {
		t.Errorf("the memory sizes offered: %v", memOptions)
	}
	if !strings.Contains(overview, "20 s") || !strings.Contains(overview, "edited in the console") {
		t.Errorf("the overview after saving: %q", overview)
	}

	// 11. Publish a version with a description.
	var version string
	run("publish",
		fill("#version-description", "first"),
		chromedp.Click(chromedp.CSS("#publish")),
		chromedp.WaitVisible(chromedp.CSS(`#versions tr[data-version="1"]`)),
		text(`#versions tr[data-version="1"]`, &version),
		shot("published"),
	)
	if !strings.Contains(version, "first") {
		t.Errorf("version 1: %q", version)
	}

	// 12. An alias with a weight, then edited.
	var alias string
	run("alias",
		chromedp.WaitVisible(chromedp.CSS("#alias-name")),
		fill("#alias-name", "prod"),
		choose("#alias-version", "1"),
		choose("#alias-extra", "$LATEST"),
		fill("#alias-weight", "20"),
		chromedp.Click(chromedp.CSS("#alias-save")),
		chromedp.WaitVisible(chromedp.CSS(`#aliases tr[data-alias="prod"]`)),
		chromedp.Click(chromedp.CSS(`#aliases tr[data-alias="prod"] .alias-edit`)),
		fill("#alias-weight", "50"),
		chromedp.Click(chromedp.CSS("#alias-save")),
		chromedp.Poll[chromedp.Void](`(document.querySelector('#aliases tr[data-alias="prod"]') || {}).innerText?.includes("50%")`),
		text(`#aliases tr[data-alias="prod"]`, &alias),
		shot("alias"),
	)
	if !strings.Contains(alias, "$LATEST: 50%") {
		t.Errorf("the alias: %q", alias)
	}

	// 13. A timer on the form's $DEFAULT fires (no $DEFAULT alias: it runs
	// $LATEST); one whose alias was deleted says so. Disable, remove.
	if err := sdk.Call(ctx, "CreateAlias", api.AliasRequest{Namespace: "team", FunctionName: "hello", Name: "gone", FunctionVersion: "$LATEST"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := sdk.Call(ctx, "CreateTrigger", api.CreateTriggerRequest{Namespace: "team", FunctionName: "hello", TriggerName: "orphan", Type: "timer",
		TriggerDesc: "0 0 3 * * * *", Qualifier: "gone"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := sdk.Call(ctx, "DeleteAlias", api.AliasKey{Namespace: "team", FunctionName: "hello", Name: "gone"}, nil); err != nil {
		t.Fatal(err)
	}
	var tick, orphan, disabled string
	run("timer",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#timer-name")),
		fill("#timer-name", "tick"),
		fill("#timer-cron", "*/2 * * * * * *"),
		fill("#timer-argument", "from the console"),
		chromedp.Click(chromedp.CSS("#timer-add")),
		chromedp.WaitVisible(chromedp.CSS(`#triggers tr[data-trigger="tick"]`)),
		chromedp.Poll[chromedp.Void](`(document.querySelector('#triggers tr[data-trigger="tick"] .last-run') || {}).textContent?.startsWith("20")`,
			chromedp.WithPollingTimeout(30*time.Second)),
		text(`#triggers tr[data-trigger="tick"]`, &tick),
		text(`#triggers tr[data-trigger="orphan"]`, &orphan),
		shot("timer"),
		chromedp.Click(chromedp.CSS(`#triggers tr[data-trigger="tick"] .trigger-toggle`)),
		chromedp.Poll[chromedp.Void](`(document.querySelector('#triggers tr[data-trigger="tick"] .enabled') || {}).textContent === "no"`),
		text(`#triggers tr[data-trigger="tick"]`, &disabled),
		shot("timer-disabled"),
		confirmAll,
		chromedp.Click(chromedp.CSS(`#triggers tr[data-trigger="tick"] .trigger-remove`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#triggers tr[data-trigger="tick"]`)),
		shot("timer-removed"),
	)
	if !strings.Contains(tick, "$DEFAULT") || !strings.Contains(tick, "Ready") {
		t.Errorf("the timer on $DEFAULT: %q", tick)
	}
	if !strings.Contains(orphan, "Cannot run: alias gone does not exist") {
		t.Errorf("the timer on a missing alias: %q", orphan)
	}
	var trigs api.ListTriggersResponse
	if err := sdk.Call(ctx, "ListTriggers", api.ListTriggersRequest{Namespace: "team", FunctionName: "hello"}, &trigs); err != nil {
		t.Fatal(err)
	}
	if len(trigs.Triggers) != 1 || trigs.Triggers[0].AvailableStatus != "Unavailable" || trigs.Triggers[0].AvailableReason != "alias gone does not exist" ||
		trigs.Triggers[0].NextRunTime == "" || trigs.Triggers[0].LastRunTime != "" {
		t.Errorf("ListTriggers: %+v", trigs.Triggers)
	}
	if !strings.Contains(disabled, "Enable") {
		t.Errorf("the disabled timer: %q", disabled)
	}
	var timerLogs api.GetFunctionLogsResponse
	if err := sdk.Call(ctx, "GetFunctionLogs", api.GetFunctionLogsRequest{Namespace: "team", FunctionName: "hello", Limit: 100}, &timerLogs); err != nil {
		t.Fatal(err)
	}
	fired := 0
	for _, e := range timerLogs.Data {
		if strings.Contains(e.Log, `\"TriggerName\":\"tick\"`) || strings.Contains(e.Log, "from the console") {
			fired++
		}
	}
	if fired == 0 {
		t.Errorf("no invocation of the timer in the logs")
	}

	// More invocations through the SDK, for the plots and the counts.
	for range 5 {
		if err := sdk.Call(ctx, "Invoke", api.InvokeRequest{Namespace: "team", FunctionName: "hello", ClientContext: `{}`}, nil); err != nil {
			t.Fatal(err)
		}
	}

	// 14. Logs, and the live instance's count of served requests.
	var entries int
	var served string
	run("logs and instances",
		chromedp.Navigate(base+"/console/#/fn/team/hello/logs"),
		chromedp.WaitVisible(chromedp.CSS("#logs-list details")),
		into(chromedp.Evaluate[int](`document.querySelectorAll("#logs-list details").length`), &entries),
		shot("logs"),
		chromedp.Navigate(base+"/console/#/fn/team/hello/config"),
		chromedp.WaitVisible(chromedp.CSS("#instances .served")),
		text("#instances .served", &served),
	)
	if entries < 6 {
		t.Errorf("%d log entries, want the console's, the timer's and the SDK's", entries)
	}
	if n, _ := strconv.Atoi(served); n < 5 {
		t.Errorf("the live instance served %q requests, want at least 5", served)
	}
	var insts api.ListInstancesResponse
	if err := sdk.Call(ctx, "ListInstances", api.ListInstancesRequest{Namespace: "team", FunctionName: "hello"}, &insts); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(insts.Instances, func(in api.Instance) bool { return in.Served >= 5 }) {
		t.Errorf("ListInstances: %+v, want an instance that served 5 requests or more", insts.Instances)
	}

	// 15. Plots and usage: a week's plots show lone points, the cursor
	// moves on all plots at once.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var m api.GetFunctionMetricsResponse
		if err := sdk.Call(ctx, "GetFunctionMetrics", api.GetFunctionMetricsRequest{Namespace: "team", FunctionName: "hello"}, &m); err != nil {
			t.Fatal(err)
		}
		if slices.Max(m.ConcurrentInstances) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no instance sampled in 10 s: %v", m.ConcurrentInstances)
		}
		time.Sleep(200 * time.Millisecond) // polling the server's sampler
	}
	var invocations float64
	var drawn int
	var cursors []float64
	run("plots",
		chromedp.Click(chromedp.CSS("#tab-link-monitor")),
		chromedp.WaitVisible(chromedp.CSS("#chart-invocations canvas")),
		chromedp.WaitVisible(chromedp.CSS("#usage-table")),
		into(chromedp.Evaluate[float64](`scfdCharts.invocations.data[1].reduce((a, b) => a + (b || 0), 0)`), &invocations),
		into(chromedp.Evaluate[int](blue), &drawn),
		shot("plots-hour"),
		choose("#period-preset", "week"),
		chromedp.Poll[chromedp.Void](`window.scfdDrawnWidth === innerWidth && scfdCharts.duration && scfdCharts.duration.scales.x.max - scfdCharts.duration.scales.x.min > 6 * 86400`),
		chromedp.MouseEvent("mouseMoved", 0, 0),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			box, err := chromedp.Dimensions(chromedp.CSS("#chart-invocations .u-over"))(ctx, t)
			if err != nil {
				return err
			}
			q := box.Content
			_, err = chromedp.MouseEvent("mouseMoved", (q[0]+q[2])/2, (q[1]+q[5])/2)(ctx, t)
			return err
		}),
		into(chromedp.Evaluate[[]float64](`Object.values(scfdCharts).map(u => u.cursor.left)`), &cursors),
		shot("plots-week"),
	)
	if invocations < 7 {
		t.Errorf("the invocations plot holds %v invocations, want at least 7", invocations)
	}
	if drawn < 50 {
		t.Errorf("the invocations plot has %d blue pixels: nothing drawn", drawn)
	}
	if len(cursors) != 6 || cursors[0] <= 0 || slices.Min(cursors) != slices.Max(cursors) {
		t.Errorf("the plots' cursors: %v, want one position on all six", cursors)
	}

	var usage string
	run("usage",
		chromedp.Navigate(base+"/console/#/usage"),
		chromedp.WaitVisible(chromedp.CSS("#usage-table")),
		chromedp.WaitVisible(chromedp.CSS("#usage-from")),
		text("#usage-table", &usage),
		shot("usage"),
	)
	if !strings.Contains(usage, "team/hello") {
		t.Errorf("the usage: %q", usage)
	}

	// The administrator creates a read-only key for namespace team on
	// the keys page; its secret is shown once.
	var keyID, keySecret string
	run("keys page",
		chromedp.Navigate(base+"/console/#/keys"),
		chromedp.WaitVisible(chromedp.CSS("#nav-keys")),
		chromedp.Click(chromedp.CSS("#nav-keys")),
		chromedp.WaitVisible(chromedp.CSS("#key-create")),
		chromedp.SendKeys(chromedp.CSS("#key-namespaces"), "team"),
		chromedp.SetValue(chromedp.CSS("#key-role"), "ReadOnly"),
		chromedp.SendKeys(chromedp.CSS("#key-description"), "readers"),
		chromedp.Click(chromedp.CSS("#key-create")),
		chromedp.WaitVisible(chromedp.CSS("#new-key-secret")),
		into(chromedp.Text(chromedp.CSS("#new-key-id")), &keyID),
		into(chromedp.Text(chromedp.CSS("#new-key-secret")), &keySecret),
		shot("keys"),
	)
	if !strings.HasPrefix(keyID, "AKID") || len(keySecret) < 32 {
		t.Fatalf("the new key: %q %q", keyID, keySecret)
	}

	// Signed in with it: its namespace only, and no button its role may
	// not use.
	var who string
	var namespaces []string
	var hidden bool
	run("tenant sign-in",
		chromedp.Click(chromedp.CSS("#signout")),
		chromedp.WaitVisible(chromedp.CSS("#signin-form")),
		chromedp.SetValue(chromedp.CSS("#secret-id"), keyID),
		chromedp.SetValue(chromedp.CSS("#secret-key"), keySecret),
		chromedp.Click(chromedp.CSS("#signin-button")),
		chromedp.WaitVisible(chromedp.CSS(`#functions tr[data-function="hello"]`)),
		into(chromedp.Text(chromedp.CSS("#who")), &who),
		into(chromedp.Evaluate[[]string](`[...document.querySelectorAll("#namespace option")].map((o) => o.value)`), &namespaces),
		into(chromedp.Evaluate[bool](`document.querySelector("#nav-keys").hidden`), &hidden),
		shot("tenant-functions"),
	)
	if !strings.Contains(who, "ReadOnly") || !slices.Equal(namespaces, []string{"team"}) || !hidden {
		t.Errorf("a read-only key of team sees %q, namespaces %v, keys link hidden %v", who, namespaces, hidden)
	}
	var save, invoke bool
	run("tenant function page",
		chromedp.Click(chromedp.CSS(`#functions tr[data-function="hello"] a`)),
		chromedp.WaitVisible(chromedp.CSS("#instances")),
		into(chromedp.Evaluate[bool](`!!document.querySelector("#cfg-save")`), &save),
		chromedp.Click(chromedp.CSS("#tab-link-test")),
		chromedp.WaitVisible(chromedp.CSS("#event")),
		into(chromedp.Evaluate[bool](`!!document.querySelector("#invoke")`), &invoke),
		shot("tenant-test"),
	)
	if save || invoke {
		t.Errorf("a read-only key is offered Save (%v) or Invoke (%v)", save, invoke)
	}

	// 16. Sign out: back to the sign-in form, no navigation.
	run("sign out",
		chromedp.Click(chromedp.CSS("#signout")),
		chromedp.WaitVisible(chromedp.CSS("#signin-form")),
		into(chromedp.Evaluate[bool](`getComputedStyle(document.querySelector("#nav")).display === "none"`), &navHidden),
		shot("signed-out"),
	)
	if !navHidden {
		t.Error("the navigation shows after signing out")
	}
	for _, p := range problems() {
		t.Errorf("the page's console: %s", p)
	}
	t.Logf("screenshots in %s", shots)
}

// blue counts coloured pixels of the invocations' plot: blue, not grid
// grey.
const blue = `(() => {
	const c = document.querySelector("#chart-invocations canvas");
	const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
	let n = 0;
	for (let i = 0; i < d.length; i += 4) if (d[i+3] > 0 && d[i+2] > 150 && d[i] < 120) n++;
	return n;
})()`

// watchConsole collects the page's console errors and exceptions, but
// the 401s of the signed-out page, and returns a function that lists
// them.
func watchConsole(t *testing.T, browser context.Context) func() []string {
	ctx, cancel := context.WithCancel(browser)
	msgs := chromedp.Console(ctx)
	var mu sync.Mutex
	var found []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type != "error" && !m.IsException() {
				continue
			}
			if strings.Contains(m.Text, "401") {
				continue
			}
			mu.Lock()
			found = append(found, m.String())
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(found)
	}
}

// pushEmbedded pushes img to the embedded registry at addr as the
// administrator.
func pushEmbedded(t *testing.T, addr, repoTag string, img v1.Image) {
	t.Helper()
	ref, err := name.ParseReference(addr+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: cred.SecretID, Password: cred.SecretKey})); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// server is a running `scfd serve`.
type server struct {
	base     string // the API's base URL
	gateway  string // the gateway's base URL
	registry string // the embedded registry's host:port
}

// startServer runs `scfd serve` on free loopback ports, with its embedded
// registry, and checks that it prints the console's URL.
func startServer(t *testing.T) server {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scfd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/scfd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	apiAddr, gwAddr, regAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	data := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "scfd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"SCFD_API_ADDR="+apiAddr, "SCFD_GATEWAY_ADDR="+gwAddr, "SCFD_REGISTRY_ADDR="+regAddr,
		"SCFD_DATA_DIR="+data, "SCFD_SECRET_ID="+cred.SecretID, "SCFD_SECRET_KEY="+cred.SecretKey,
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(40 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("scfd log:\n%s", b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + apiAddr + "/console/")
		if err == nil {
			resp.Body.Close()
			out, _ := os.ReadFile(logPath)
			if want := "scfd: console at http://" + apiAddr + "/console/"; !strings.Contains(string(out), want) {
				t.Errorf("scfd serve does not print %q:\n%s", want, out)
			}
			return server{base: "http://" + apiAddr, gateway: "http://" + gwAddr, registry: regAddr}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("scfd serve exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("scfd serve did not listen in 30 s")
		}
		time.Sleep(50 * time.Millisecond) // polling an external process
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startChromium starts a headless Chromium that reaches nothing beyond
// loopback, with a fresh profile, and returns a browser context.
func startChromium(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.WindowSize(1360, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// into runs a at its turn among other steps and keeps its value in p.
func into[T any](a chromedp.Action[T], p *T) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := a(ctx, t)
		*p = v
		return chromedp.Void{}, err
	}
}
