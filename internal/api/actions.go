package api

// actionTable maps every action to its handler. The actions of a service
// Options lacks answer UnsupportedOperation; those the caller's role does
// not reach (see actionRights) answer UnauthorizedOperation.
func (s *Server) actionTable() map[string]HandlerFunc {
	o := s.opts
	t := map[string]HandlerFunc{
		"CreateNamespace":             action(s.createNamespace),
		"ListNamespaces":              action(s.listNamespaces),
		"UpdateNamespace":             action(s.updateNamespace),
		"DeleteNamespace":             action(s.deleteNamespace),
		"CreateFunction":              onFunction(s.createFunction),
		"GetFunction":                 onFunction(s.getFunction),
		"ListFunctions":               inNamespace(s.listFunctions),
		"UpdateFunctionCode":          onFunction(s.updateFunctionCode),
		"UpdateFunctionConfiguration": onFunction(s.updateFunctionConfiguration),
		"DeleteFunction":              onFunction(s.deleteFunction),
		"CopyFunction":                onFunction(s.copyFunction),
		"GetAccount":                  action(s.getAccount),
		// Invoke runs with Invoker, Queue or both: it checks which its
		// call needs.
		"Invoke": action(s.invoke),
	}
	group := func(available bool, actions map[string]HandlerFunc) {
		for name, h := range actions {
			if !available {
				h = unsupported(name)
			}
			t[name] = h
		}
	}
	group(o.Invoker != nil, map[string]HandlerFunc{
		"InvokeFunction": onFunction(s.invokeFunction),
	})
	group(o.Async != nil, map[string]HandlerFunc{
		"ListAsyncEvents":                 inNamespace(s.listAsyncEvents),
		"GetAsyncEventStatus":             action(s.getAsyncEventStatus),
		"TerminateAsyncEvent":             onFunction(s.terminateAsyncEvent),
		"RetryAsyncEvent":                 action(s.retryAsyncEvent),
		"UpdateFunctionEventInvokeConfig": onFunction(s.updateEventInvokeConfig),
		"GetFunctionEventInvokeConfig":    onFunction(s.getEventInvokeConfig),
	})
	group(o.Logs != nil, map[string]HandlerFunc{
		"GetFunctionLogs":  inNamespace(s.getFunctionLogs),
		"GetRequestStatus": onFunction(s.getRequestStatus),
	})
	group(o.Triggers != nil, map[string]HandlerFunc{
		"CreateTrigger":       onFunction(s.createTrigger),
		"UpdateTrigger":       onFunction(s.updateTrigger),
		"UpdateTriggerStatus": onFunction(s.updateTrigger),
		"DeleteTrigger":       onFunction(s.deleteTrigger),
		"ListTriggers":        onFunction(s.listTriggers),
	})
	group(o.Concurrency != nil, map[string]HandlerFunc{
		"PutReservedConcurrencyConfig":       action(s.putReserved),
		"GetReservedConcurrencyConfig":       onFunction(s.getReserved),
		"DeleteReservedConcurrencyConfig":    onFunction(s.deleteReserved),
		"PutTotalConcurrencyConfig":          action(s.putTotal),
		"PutProvisionedConcurrencyConfig":    action(s.putProvisioned),
		"GetProvisionedConcurrencyConfig":    onFunction(s.getProvisioned),
		"DeleteProvisionedConcurrencyConfig": action(s.deleteProvisioned),
	})
	group(o.Metrics != nil, map[string]HandlerFunc{
		"GetFunctionMetrics": onFunction(s.getFunctionMetrics),
	})
	group(o.Instances != nil, map[string]HandlerFunc{
		"ListInstances": onFunction(s.listInstances),
	})
	group(o.Usage != nil, map[string]HandlerFunc{
		"GetUsage": action(s.getUsage),
	})
	group(o.Versions != nil, map[string]HandlerFunc{
		"PublishVersion":        onFunction(s.publishVersion),
		"ListVersionByFunction": onFunction(s.listVersions),
		"DeleteFunctionVersion": onFunction(s.deleteVersion),
		"CreateAlias":           onFunction(s.createAlias),
		"UpdateAlias":           onFunction(s.updateAlias),
		"GetAlias":              onFunction(s.getAlias),
		"DeleteAlias":           onFunction(s.deleteAlias),
		"ListAliases":           onFunction(s.listAliases),
	})
	group(o.TenantKeys != nil, map[string]HandlerFunc{
		"CreateKey": action(s.createKey),
		"ListKeys":  action(s.listKeys),
		"UpdateKey": action(s.updateKey),
		"DeleteKey": action(s.deleteKey),
	})
	for name, h := range t {
		t[name] = withRight(name, h)
	}
	return t
}
