// Package admin serves the authenticated admin API (/admin/v1/), the
// operator console (/console/) and the sign-in that guards them, over the
// incident engine (Service) and the token store (Tokens).
package admin

import (
	"context"
	"errors"
	"time"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/slo"
)

// Service is the incident engine as the admin API uses it. *incident.Engine implements it.
//
// Methods return an *understudy.Error (EINVALID, ENOTFOUND, ECONFLICT…) for
// the caller's mistakes; any other error is internal: logged, and shown as
// "internal error".
type Service interface {
	Incidents(ctx context.Context, f understudy.IncidentFilter) ([]understudy.Incident, error)
	Incident(ctx context.Context, id int64) (understudy.Incident, error) // with Updates
	Timeline(ctx context.Context, id int64) ([]understudy.Event, error)  // oldest first
	CreateIncident(ctx context.Context, author string, inc understudy.Incident, message string) (understudy.Incident, error)
	UpdateIncident(ctx context.Context, author string, id int64, c understudy.IncidentChange) (understudy.Incident, error)
	ResolveIncident(ctx context.Context, author string, id int64, message string) (understudy.Incident, error)
	ReopenIncident(ctx context.Context, author string, id int64, message string) (understudy.Incident, error)
	// MergeIncident merges id into into (id is resolved, pointing at into) and returns into.
	MergeIncident(ctx context.Context, author string, id, into int64) (understudy.Incident, error)
	Maintenances(ctx context.Context, f understudy.MaintenanceFilter) ([]understudy.Maintenance, error)
	ScheduleMaintenance(ctx context.Context, author string, m understudy.Maintenance) (understudy.Maintenance, error)
	CancelMaintenance(ctx context.Context, author string, id int64) (understudy.Maintenance, error)
	Components(ctx context.Context) ([]understudy.Component, error)
	SLOs(ctx context.Context) ([]SLO, error)
}

// SLO is one route's objective and its state now (Route, Objective,
// Status). It is slo.Report, so the engine's SLOs method fits Service as is.
type SLO = slo.Report

// Tokens stores admin tokens (only hashes). *store.Store implements it.
type Tokens interface {
	// TokenByHash returns the token whose secret hashes to hash; an error
	// for which Options.IsNotFound is true when there is none. Revoked
	// tokens are returned, with RevokedAt set.
	TokenByHash(ctx context.Context, hash [32]byte) (understudy.Token, error)
	// CreateToken stores t; an error for which Options.IsExists is true
	// when the name is taken.
	CreateToken(ctx context.Context, t understudy.Token) error
	Tokens(ctx context.Context) ([]understudy.Token, error)
	// RevokeToken marks the token called name revoked at at; an error for
	// which Options.IsNotFound is true when there is none.
	RevokeToken(ctx context.Context, name string, at time.Time) error
	// TouchToken records that the token called name was used at at.
	TouchToken(ctx context.Context, name string, at time.Time) error
}

// Sentinel errors a Tokens implementation may wrap when no Options.IsNotFound
// or Options.IsExists is given (cmd passes store.ErrNotFound and
// store.ErrExists instead; admin never imports the store).
var (
	// ErrNotFound: no token has that hash or name.
	ErrNotFound = errors.New("admin: not found")
	// ErrExists: a token with that name already exists.
	ErrExists = errors.New("admin: already exists")
)
