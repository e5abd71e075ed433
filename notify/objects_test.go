package notify_test

import (
	"context"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/status"
)

// componentsSource is the status API's Source for webhook rendering in
// these tests: fixed components, no incident lists.
type componentsSource struct{}

var since = time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC)

func (componentsSource) Components(context.Context) ([]understudy.Component, error) {
	return []understudy.Component{
		{Name: "assistant", Kind: "route", Status: understudy.ComponentDegradedPerformance, Since: since},
		{Name: "provider:openai", Kind: "provider", Status: understudy.ComponentPartialOutage, Since: since},
	}, nil
}

func (componentsSource) Incidents(context.Context, understudy.IncidentFilter) ([]understudy.Incident, error) {
	return nil, nil
}

func (componentsSource) Maintenances(context.Context, understudy.MaintenanceFilter) ([]understudy.Maintenance, error) {
	return nil, nil
}

// objects renders incidents as the status API of https://status.example.com.
var objects = status.New(status.Options{Source: componentsSource{}, Page: status.Page{URL: "https://status.example.com"}})
