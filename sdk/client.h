/*
 * client.h - what the SDK's own tests may read of a gk_client beyond the public header: its
 * freshness state (the newest snapshot version seen, the change-event counters) and how its
 * tokens were accepted (decision sessions).
 *
 * THREAD SAFETY: gks_client_freshness may be called from any thread while the client is open.
 */
#ifndef GKS_CLIENT_H
#define GKS_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "events.h"
#include "gatekeeper.h"
#include "client_session.h"

/*
 * gks_freshness - a snapshot of a client's freshness state.
 *   newest_version  the newest snapshot version seen, in a change event or a verified token
 *   subscribed      whether the client subscribes to change events
 *   events          the subscriber's counters (all 0 when not subscribed)
 */
typedef struct gks_freshness {
    uint64_t newest_version;
    bool subscribed;
    gks_events_counts events;
} gks_freshness;

/* gks_client_freshness - read the client's freshness state into *out. */
void gks_client_freshness(const gk_client *client, gks_freshness *out);

/* gks_client_sessions - how the client's tokens were accepted: by session MAC or signature. */
void gks_client_sessions(const gk_client *client, gks_session_counts *out);

/*
 * gks_client_check_due - migrate.c's comparison sampling: counts one read eligible for a
 * consistency check and says whether it is to be checked, 1 in `ratio` (0: the client's
 * check_ratio option): the 1st, ratio+1st, ... eligible read of the client.
 */
bool gks_client_check_due(gk_client *client, uint32_t ratio);

/* gks_client_telemetry - the client's telemetry aggregates; NULL when telemetry is off. */
struct gks_telemetry *gks_client_telemetry(gk_client *client);

#endif
