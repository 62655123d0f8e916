/*
 * The tables of the replicated state (DESIGN §4.1): a small shared type, so
 * that services (which describe their writes by table) and statestore (which
 * stores them) agree without depending on each other's headers.
 */
#ifndef LOGOS_COMMON_TABLES_H
#define LOGOS_COMMON_TABLES_H

enum table_id {
	/* Versioned: the cluster's state, rewound by rewind and in the digest. */
	TABLE_NODES = 0,
	TABLE_PROCS,
	TABLE_OUTPUT,
	TABLE_STEPS,
	TABLE_QUEUES,
	TABLE_MESSAGES,
	TABLE_FILES,
	TABLE_IDEM,
	TABLE_N_VERSIONED,
	/*
	 * Unversioned bookkeeping, never rewound: command results and the audit
	 * log (keyed by index and position), and id counters (pids, node ids),
	 * which must not go back on a rewind so that an id is never reused
	 * for a different thing.
	 */
	TABLE_RESULTS = TABLE_N_VERSIONED,
	TABLE_LOG,
	TABLE_COUNTERS,
	TABLE_COUNT
};

#endif /* LOGOS_COMMON_TABLES_H */
