// Package cluster lets several Understudy replicas sharing one PostgreSQL
// database act as one: a Leader elects the single replica that runs
// detectors, the maintenance scheduler and notification delivery, and a
// Bus carries short messages between replicas over LISTEN/NOTIFY. Nothing
// else is needed: no consensus of our own, no queue, no cache server.
//
//	leader, err := cluster.NewLeader(cluster.LeaderOptions{DSN: dsn, Logger: log, Registry: reg})
//	go leader.Run(ctx, func(ctx context.Context) { runDetectors(ctx) }) // until ctx is canceled
//
//	bus, err := cluster.NewBus(cluster.BusOptions{DSN: dsn, Logger: log})
//	go bus.Run(ctx)
//	msgs, cancel := bus.Subscribe()
//	err = bus.Publish(ctx, cluster.Message{Kind: "incident", ID: id})
//
// Both need PostgreSQL 14 or later (idle_session_timeout) and a direct
// connection, or one through a session-pooling proxy: a session advisory
// lock and LISTEN both belong to one server session, which a transaction
// pooler does not give.
//
// # Leader election
//
// The Leader holds pg_try_advisory_lock(Key) on a dedicated connection
// (pgx.Conn, not a pool: the lock belongs to the session). PostgreSQL
// guarantees that one session at a time holds it, per key and database.
// Followers try again every Interval. The leader runs lead with a context
// that is canceled as soon as leadership ends, then waits for lead to
// return, closes the connection and goes back to following. While leading
// it waits on its connection, so that a session ended by the server is
// noticed at once, and every Interval it checks in pg_locks, within
// Timeout, that its session still holds the lock; any failure is lost
// leadership.
//
// What "at most one leader" means depends on how leadership ends, because
// the server frees the lock when the session ends, whoever notices first:
//
//   - Run's context canceled (graceful stop): lead's context is canceled,
//     lead returns, the lock is released explicitly, then Run returns.
//     Another replica takes over on its next try, within Interval. No
//     overlap.
//   - The process dies on a host that stays up: the kernel closes its
//     socket, the server ends the session at once, and another replica
//     takes over within Interval. Nothing is left running to overlap. (A
//     host that vanishes is the partition case below.)
//   - The session is ended server-side (pg_terminate_backend, a server
//     restart or failover): the server sends the leader a FATAL message and
//     frees the lock. The leader reads the message and cancels lead within
//     milliseconds, while a follower needs up to Interval to try: an
//     overlap happens only if a follower's try falls in those milliseconds,
//     and lasts as long as lead takes to stop.
//   - The leader is partitioned away or frozen (no FIN, no RST): its next
//     check gets no answer, and lead is canceled within Interval + Timeout
//     of the last successful check. The server frees the lock only when it
//     ends the silent session: after SessionTimeout (idle_session_timeout,
//     set on the leader's session; default 2×Interval + 3×Timeout = 5 s),
//     which NewLeader requires to exceed Interval + 2×Timeout. Lead thus has
//     SessionTimeout − Interval − 2×Timeout (2 s with the defaults) to stop
//     before another replica can take over; takeover takes SessionTimeout to
//     SessionTimeout + Interval (5–6 s with the defaults). TCP keepalives on
//     both ends (idle 10 s, then 3 probes 5 s apart, ≈ 25 s) and the
//     server's tcp_user_timeout (25 s) are the backstop when the server
//     cannot rely on idleness, e.g. a response it cannot deliver.
//
// The lock is a lease, not a fence: a leader frozen for longer than
// SessionTimeout (a stopped process, a paused VM) resumes with lead still
// running until it reads the server's FATAL message or its next check
// fails — briefly, but lead may act in that moment while another replica
// leads. Work that must happen once therefore also needs idempotency where
// it lands (the notification outbox's idempotency keys), not only the lock.
//
// IsLeader, the OnChange callback and the understudy_cluster_leader{key}
// gauge (when a Registry is given) report leadership.
//
// # Bus
//
// Publish sends a Message, JSON-encoded, with pg_notify on the channel
// (default "understudy") from a small pool of its own (at most 2
// connections, opened on demand); each Publish is its own transaction, so
// it is delivered at once and never folded with an identical one. The
// encoding must not exceed MaxPayload (7999 bytes: PostgreSQL refuses 8000
// and more); larger messages are refused with ErrTooLarge. Send an id and
// let receivers read the record from the store.
//
// Run holds a dedicated connection that LISTENs on the channel and fans
// every message out to the channels returned by Subscribe. It pings every
// Interval (default 5 s) and reconnects with backoff (100 ms doubling to
// 5 s) when the connection fails. Delivery is at most once: what is
// published while a replica is not listening is lost to it. Each time the
// listener starts listening — the first time and after every reconnection —
// it delivers a Message{Kind: KindResync} to every subscriber, which must
// then re-read from the store the state it follows. A subscriber whose
// buffer (SubscriberBuffer messages) is full misses messages and gets a
// resync as soon as it has room again. The first resync also tells a
// subscriber from when on messages arrive.
//
// Every Bus has a random Origin, which Publish puts in its messages; a
// replica hears its own messages and can skip them by comparing Origin.
// Resyncs have no Origin.
//
// Measured on loopback with Interval 100 ms (go test -race -v ./cluster/
// with UNDERSTUDY_TEST_POSTGRES_DSN set, idle and under CPU load): a
// terminated leader notices in 1–13 ms and a follower takes over in
// 70–100 ms; after a graceful stop, 100–160 ms; a partitioned leader
// notices in 230–320 ms and is replaced after SessionTimeout (1.5 s in the
// test); a terminated listener is listening again, resync delivered, in
// 120–260 ms.
package cluster
