package registry

import (
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"
)

// The reference implementation logs through logrus's process-wide logger,
// one line per refused ping or missing blob, which is how every client
// works. Its output is discarded; errors other than answers below 500 go
// to the Logger of the most recently opened Registry.
var (
	logrusOnce sync.Once
	logrusTo   atomic.Pointer[slog.Logger]
)

func routeLogrus(log *slog.Logger) {
	logrusTo.Store(log)
	logrusOnce.Do(func() {
		logrus.SetOutput(io.Discard)
		logrus.AddHook(logrusHook{})
	})
}

type logrusHook struct{}

func (logrusHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.ErrorLevel, logrus.FatalLevel, logrus.PanicLevel}
}

func (logrusHook) Fire(e *logrus.Entry) error {
	if status, ok := e.Data["http.response.status"].(int); ok && status < 500 {
		return nil
	}
	log := logrusTo.Load()
	if log == nil {
		return nil
	}
	attrs := []any{}
	for _, k := range []string{"err.code", "err.message", "err.detail", "http.request.uri", "vars.name"} {
		if v, ok := e.Data[k]; ok {
			attrs = append(attrs, k, v)
		}
	}
	log.Error("registry: "+e.Message, attrs...)
	return nil
}
