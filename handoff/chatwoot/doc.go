// Package chatwoot relays handed-off conversations into Chatwoot, an
// open-source support desk, and the Chatwoot agents' replies back.
//
// # Flow
//
// *handoff.Service calls (*Connector).OnEvent after every change
// (handoff.Options.OnEvent). OnEvent only queues the event (bounded, in
// order; when the queue is full the event is dropped and logged) and Run,
// on a goroutine the caller starts and stops with a context, relays the
// events one at a time:
//
//   - created: a Chatwoot contact, then a conversation in the API-channel
//     inbox with our id in its custom_attributes and additional_attributes
//     (understudy_conversation_id), then the transcript: the user's messages
//     as incoming messages, the model's and the system's as private notes
//     (agents see them, the user's client is not sent them, and they are not
//     mistaken for agent replies). The link (our id ↔ "<account>/<Chatwoot
//     conversation id>", system "chatwoot") is stored in Links right after
//     the conversation is created, so a restart loses nothing.
//   - message with role user: an incoming message in the linked Chatwoot
//     conversation. When the conversation has no link yet (its "created"
//     could not be relayed), it is created then, with the transcript so far.
//     Messages of other roles are not relayed: agent messages came from
//     Chatwoot, and relaying them would loop.
//   - claimed by someone else than Options.Agent (an agent of the console):
//     a private note telling the Chatwoot agents that their replies will no
//     longer reach the user.
//   - closed: the Chatwoot conversation is resolved (toggle_status), unless
//     the close came from Chatwoot itself.
//
// A failed call is retried on the injected clock with exponential backoff
// (1 s, doubling, at most 30 s; a 429's Retry-After is honoured up to two
// minutes), at most Options.MaxAttempts times, for network errors, 429 and
// 5xx except 501; other errors are final. Every failure is logged. Events
// are relayed one after the other, so the messages of one conversation keep
// their order; calls are at-least-once (a call whose response is lost is
// sent again).
//
// Webhook serves Chatwoot's webhooks: an agent's message (message_created,
// message_type "outgoing", not private) claims our conversation for
// Options.Agent when it is still waiting and adds the message as the agent's
// reply; a resolution (conversation_status_changed or conversation_resolved
// with status "resolved") closes ours. Incoming, private, activity and
// template messages, other events, and conversations of other inboxes or not
// linked to ours are acknowledged with 200 and ignored. A message already
// relayed (Chatwoot redelivers on errors) is not relayed twice: the
// connector remembers the ids of the last 4096 messages it relayed, in
// memory.
//
// # Assignee
//
// Every reply from Chatwoot is written by one assignee, Options.Agent
// ("chatwoot" by default), not "chatwoot:<agent name>": handoff.Service lets
// only the assignee reply, and several Chatwoot agents (or a bot) may answer
// in the same conversation. When an agent of the console has claimed the
// conversation, replies from Chatwoot are refused (logged, 200) and the
// Chatwoot side is told by a private note.
//
// # Webhook authentication
//
// Chatwoot signs its webhooks since v4.11.2 (account webhooks) and v4.13.0
// (API-channel inbox and agent bot webhooks): X-Chatwoot-Timestamp (unix
// seconds) and X-Chatwoot-Signature, "sha256=" and the hex HMAC-SHA256 of
// "{timestamp}.{raw body}" keyed with the webhook's secret (shown in the
// webhook's or the inbox's settings). Webhook requires both headers, checks
// the HMAC in constant time with Options.WebhookSecret, and refuses
// timestamps more than SignatureTolerance away from the clock (replays), all
// with 401. So a secret token in the URL is not needed, and not accepted:
// older, unsigned Chatwoot versions are not supported. Bodies over
// MaxWebhookBody get 413, bodies that are not a JSON object 400.
//
// # Wiring
//
// The service needs the connector's OnEvent and the connector needs the
// service, so wire them through a variable (OnEvent on a nil *Connector does
// nothing):
//
//	var conn *chatwoot.Connector
//	svc := handoff.New(handoff.Options{Store: st, OnEvent: func(e handoff.Event) { conn.OnEvent(e) }})
//	conn, err := chatwoot.New(chatwoot.Options{…, Links: st, Handoff: svc})
//	go conn.Run(ctx)
//	mux.Handle("POST /handoff/chatwoot/webhook", conn.Webhook())
//
// # Chatwoot API used (Application API, header api_access_token)
//
// Sources: the Chatwoot developer docs (developers.chatwoot.com/api-reference,
// generated from swagger/ in github.com/chatwoot/chatwoot) and the user guide
// (chatwoot.com/hc/user-guide):
//
//   - POST /api/v1/accounts/{account_id}/contacts — inbox_id (required),
//     name, additional_attributes; the answer's payload.contact.id and
//     payload.contact_inbox.source_id (swagger/paths/application/contacts/
//     list_create.yml, definitions/request/contact/create_payload.yml,
//     definitions/resource/contact_create_response.yml).
//   - POST /api/v1/accounts/{account_id}/conversations — source_id
//     (required), inbox_id, contact_id, status, custom_attributes,
//     additional_attributes; the answer's id (paths/application/
//     conversation/index.yml, definitions/request/conversation/
//     create_payload.yml; "Create New Conversation" and, for source_id, the
//     guide's "How to create an API channel inbox").
//   - POST /api/v1/accounts/{account_id}/conversations/{id}/messages —
//     content (required), message_type incoming | outgoing, private
//     (paths/application/conversation/messages/create.yml,
//     definitions/request/conversation/create_message_payload.yml).
//   - POST /api/v1/accounts/{account_id}/conversations/{id}/toggle_status —
//     status resolved (paths/application/conversation/toggle_status.yml).
//   - Webhook payloads: message_created (id, content, message_type, private,
//     sender, conversation {id, inbox_id, status, custom_attributes},
//     account) and conversation_status_changed / conversation_resolved (the
//     conversation: id, inbox_id, status) — docs "Webhook Events"
//     (chatwoot/docs docs/product/others/webhook-events.md), the guide's
//     "How to use webhooks", app/presenters/conversations/
//     event_data_presenter.rb. Signing: chatwoot/chatwoot pull requests
//     #13573 and #13892, and the webhook schema's secret field.
//
// The docs list contact creation under the user access token only
// (userApiKey), while conversations, messages and toggle_status also accept
// an agent bot's token: APIToken should be the access token of a Chatwoot
// user (an agent of the inbox, or an administrator), from its profile
// settings. Contacts are made without an identifier (Chatwoot keeps
// identifiers unique per account, which a retried creation would trip on).
package chatwoot
