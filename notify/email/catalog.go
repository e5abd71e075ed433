package email

import (
	"fmt"
	"strings"
	"time"

	"github.com/understudy/understudy"
)

// Languages with a catalogue. Anything else falls back to English.
const (
	LangEnglish = "en"
	LangFrench  = "fr"
)

// msg names one string of the catalogue. Values with verbs are fmt formats;
// their arguments are documented beside the key.
type msg string

const (
	msgSubjectPrefix msg = "subject.prefix"
	msgColon         msg = "colon" // between a label and its value

	msgIncidentSubject msg = "incident.subject" // prefix, title, status
	msgIncidentStatus  msg = "incident.status"
	msgIncidentETA     msg = "incident.eta"
	msgIncidentLink    msg = "incident.link"

	msgComponentSubject msg = "component.subject" // prefix, component, status
	msgComponentChanged msg = "component.changed" // component, old, new
	msgComponentNow     msg = "component.now"     // component, status (no previous status known)
	msgComponentSince   msg = "component.since"
	msgComponentReason  msg = "component.reason"

	msgMaintScheduledSubject  msg = "maintenance.scheduled.subject" // prefix, title
	msgMaintStartedSubject    msg = "maintenance.started.subject"
	msgMaintVerifyingSubject  msg = "maintenance.verifying.subject"
	msgMaintCompletedSubject  msg = "maintenance.completed.subject"
	msgMaintCanceledSubject   msg = "maintenance.canceled.subject"
	msgMaintScheduledLead     msg = "maintenance.scheduled.lead" // start, end
	msgMaintStartedLead       msg = "maintenance.started.lead"   // start, end
	msgMaintVerifyingLead     msg = "maintenance.verifying.lead"
	msgMaintCompletedLead     msg = "maintenance.completed.lead" // end
	msgMaintCanceledLead      msg = "maintenance.canceled.lead"
	msgMaintWindow            msg = "maintenance.window"
	msgDetailsLink            msg = "details.link"
	msgAffected               msg = "affected"
	msgPageLink               msg = "page.link"
	msgFooterWhy              msg = "footer.why"
	msgFooterUnsubscribe      msg = "footer.unsubscribe"
	msgConfirmSubject         msg = "confirm.subject" // prefix
	msgConfirmHeading         msg = "confirm.heading"
	msgConfirmLead            msg = "confirm.lead"
	msgConfirmIgnore          msg = "confirm.ignore"
	msgConfirmLink            msg = "confirm.link"
	msgConfirmFooter          msg = "confirm.footer"
	msgComponentOperational   msg = "status.operational"
	msgComponentDegraded      msg = "status.degraded_performance"
	msgComponentPartialOutage msg = "status.partial_outage"
	msgComponentMajorOutage   msg = "status.major_outage"
	msgComponentMaintenance   msg = "status.under_maintenance"
	msgIncidentInvestigating  msg = "status.investigating"
	msgIncidentIdentified     msg = "status.identified"
	msgIncidentMonitoring     msg = "status.monitoring"
	msgIncidentResolved       msg = "status.resolved"
)

// catalogue holds every string a message shows, per language.
var catalogue = map[string]map[msg]string{
	LangEnglish: {
		msgSubjectPrefix: "[Status]",
		msgColon:         ": ",

		msgIncidentSubject: "%s %s: %s",
		msgIncidentStatus:  "Status",
		msgIncidentETA:     "Expected resolution",
		msgIncidentLink:    "Follow this incident",

		msgComponentSubject: "%s %s: %s",
		msgComponentChanged: "%s changed from %s to %s.",
		msgComponentNow:     "%s is now: %s.",
		msgComponentSince:   "Since",
		msgComponentReason:  "Reason",

		msgMaintScheduledSubject: "%s Scheduled maintenance: %s",
		msgMaintStartedSubject:   "%s Maintenance in progress: %s",
		msgMaintVerifyingSubject: "%s Maintenance being verified: %s",
		msgMaintCompletedSubject: "%s Maintenance completed: %s",
		msgMaintCanceledSubject:  "%s Maintenance canceled: %s",
		msgMaintScheduledLead:    "Maintenance is scheduled from %s to %s.",
		msgMaintStartedLead:      "Maintenance started at %s and is expected to end at %s.",
		msgMaintVerifyingLead:    "The work is done; we are checking that everything works before closing the window.",
		msgMaintCompletedLead:    "Maintenance completed at %s.",
		msgMaintCanceledLead:     "This maintenance was canceled.",
		msgMaintWindow:           "Window",
		msgDetailsLink:           "Details on the status page",
		msgAffected:              "Affected components",
		msgPageLink:              "Status page",
		msgFooterWhy:             "You receive this message because you subscribed to status notifications.",
		msgFooterUnsubscribe:     "Unsubscribe",

		msgConfirmSubject: "%s Confirm your subscription",
		msgConfirmHeading: "Confirm your subscription",
		msgConfirmLead:    "Someone, probably you, asked to receive status notifications at this address. Confirm with the link below to start receiving them.",
		msgConfirmIgnore:  "If you did not ask for this, ignore this message: you will receive nothing more.",
		msgConfirmLink:    "Confirm my subscription",
		msgConfirmFooter:  "This link expires; ask again on the status page if it no longer works.",

		msgComponentOperational:   "Operational",
		msgComponentDegraded:      "Degraded performance",
		msgComponentPartialOutage: "Partial outage",
		msgComponentMajorOutage:   "Major outage",
		msgComponentMaintenance:   "Under maintenance",
		msgIncidentInvestigating:  "Investigating",
		msgIncidentIdentified:     "Identified",
		msgIncidentMonitoring:     "Monitoring",
		msgIncidentResolved:       "Resolved",
	},
	LangFrench: {
		msgSubjectPrefix: "[Statut]",
		msgColon:         " : ",

		msgIncidentSubject: "%s %s : %s",
		msgIncidentStatus:  "État",
		msgIncidentETA:     "Résolution prévue",
		msgIncidentLink:    "Suivre cet incident",

		msgComponentSubject: "%s %s : %s",
		msgComponentChanged: "%s est passé de « %s » à « %s ».",
		msgComponentNow:     "%s est maintenant : %s.",
		msgComponentSince:   "Depuis",
		msgComponentReason:  "Raison",

		msgMaintScheduledSubject: "%s Maintenance programmée : %s",
		msgMaintStartedSubject:   "%s Maintenance en cours : %s",
		msgMaintVerifyingSubject: "%s Maintenance en vérification : %s",
		msgMaintCompletedSubject: "%s Maintenance terminée : %s",
		msgMaintCanceledSubject:  "%s Maintenance annulée : %s",
		msgMaintScheduledLead:    "Une maintenance est programmée du %s au %s.",
		msgMaintStartedLead:      "La maintenance a commencé le %s et doit se terminer le %s.",
		msgMaintVerifyingLead:    "Les travaux sont faits ; nous vérifions que tout fonctionne avant de clore la maintenance.",
		msgMaintCompletedLead:    "La maintenance s’est terminée le %s.",
		msgMaintCanceledLead:     "Cette maintenance a été annulée.",
		msgMaintWindow:           "Créneau",
		msgDetailsLink:           "Détails sur la page de statut",
		msgAffected:              "Composants concernés",
		msgPageLink:              "Page de statut",
		msgFooterWhy:             "Vous recevez ce message parce que vous êtes abonné aux notifications de statut.",
		msgFooterUnsubscribe:     "Se désabonner",

		msgConfirmSubject: "%s Confirmez votre abonnement",
		msgConfirmHeading: "Confirmez votre abonnement",
		msgConfirmLead:    "Quelqu’un, sans doute vous, a demandé à recevoir les notifications de statut à cette adresse. Confirmez avec le lien ci-dessous pour commencer à les recevoir.",
		msgConfirmIgnore:  "Si vous n’avez rien demandé, ignorez ce message : vous ne recevrez rien d’autre.",
		msgConfirmLink:    "Confirmer mon abonnement",
		msgConfirmFooter:  "Ce lien expire ; refaites la demande sur la page de statut s’il ne fonctionne plus.",

		msgComponentOperational:   "Opérationnel",
		msgComponentDegraded:      "Performances dégradées",
		msgComponentPartialOutage: "Panne partielle",
		msgComponentMajorOutage:   "Panne majeure",
		msgComponentMaintenance:   "En maintenance",
		msgIncidentInvestigating:  "Analyse en cours",
		msgIncidentIdentified:     "Cause identifiée",
		msgIncidentMonitoring:     "Sous surveillance",
		msgIncidentResolved:       "Résolu",
	},
}

// lang is the catalogue language for a subscriber's language: "fr" (or
// "fr-CA"…) is French, anything else English.
func lang(l string) string {
	l = strings.ToLower(l)
	if l == LangFrench || strings.HasPrefix(l, LangFrench+"-") || strings.HasPrefix(l, LangFrench+"_") {
		return LangFrench
	}
	return LangEnglish
}

// texts is the catalogue of one language.
type texts struct {
	lang string
	m    map[msg]string
}

func textsFor(l string) texts {
	l = lang(l)
	return texts{lang: l, m: catalogue[l]}
}

// get returns key's text, formatted with args when there are any. A key
// missing from a language falls back to English (tests check none is).
func (t texts) get(key msg, args ...any) string {
	s, ok := t.m[key]
	if !ok {
		s = catalogue[LangEnglish][key]
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// incidentStatus is s in words; unknown values are shown as they are.
func (t texts) incidentStatus(s understudy.IncidentStatus) string {
	switch s {
	case understudy.IncidentInvestigating:
		return t.get(msgIncidentInvestigating)
	case understudy.IncidentIdentified:
		return t.get(msgIncidentIdentified)
	case understudy.IncidentMonitoring:
		return t.get(msgIncidentMonitoring)
	case understudy.IncidentResolved:
		return t.get(msgIncidentResolved)
	}
	return string(s)
}

// componentStatus is s in words; unknown values are shown as they are.
func (t texts) componentStatus(s understudy.ComponentStatus) string {
	switch s {
	case understudy.ComponentOperational:
		return t.get(msgComponentOperational)
	case understudy.ComponentDegradedPerformance:
		return t.get(msgComponentDegraded)
	case understudy.ComponentPartialOutage:
		return t.get(msgComponentPartialOutage)
	case understudy.ComponentMajorOutage:
		return t.get(msgComponentMajorOutage)
	case understudy.ComponentUnderMaintenance:
		return t.get(msgComponentMaintenance)
	}
	return string(s)
}

// when formats a time for a message: UTC, to the minute, the same
// unambiguous form in every language.
func (t texts) when(at time.Time) string {
	return at.UTC().Format("2006-01-02 15:04 UTC")
}
