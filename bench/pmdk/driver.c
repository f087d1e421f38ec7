/*
 * driver.c -- the PMDK (libpmemobj) store of the bench plan (../WORKLOADS.md).
 *
 * Build (exactly what the harness runs):
 *   gcc -O2 -Wall -Wextra -o pmdkdrv driver.c -lpmemobj -lpthread
 *
 * Usage:
 *   pmdkdrv --dir DIR --keys FILE --num N --value-size V
 *           [--ops-limit M] [--seed S]
 *   pmdkdrv --selftest [--dir DIR] [--num N] [--seed S]   (hidden: B-tree check)
 *
 * The store is a persistent B-tree map kept in a pmemobj pool:
 *
 *  - keys are fixed 16-byte strings ordered with memcmp;
 *  - the tree has minimum degree T = 8, i.e. order 16: every node holds at
 *    most 15 keys and 16 children, and every node but the root at least 7
 *    keys.  Leaves are allocated without the child array (496 bytes, 512
 *    with libpmemobj's 16-byte object header); internal nodes are 752 bytes.
 *    Nodes are allocated zeroed;
 *  - each value lives in its own pmemobj object ({uint64 length; bytes}),
 *    allocated with pmemobj_tx_alloc inside the put's transaction and
 *    reached from the tree item by its PMEMoid; a replaced or deleted value
 *    is released with pmemobj_tx_free in the same transaction;
 *  - every put and every delete is one pmemobj transaction
 *    (TX_BEGIN..TX_END) in which every modified range of an existing object
 *    is first snapshotted with pmemobj_tx_add_range_direct, so the write is
 *    durable once the call returns (fillbatch: one transaction per 1000
 *    puts);
 *  - the pool's root object holds the PMEMoid of the tree's root node;
 *  - one process-wide pthread_rwlock_t guards the tree: gets and the scan
 *    take it shared, puts and deletes exclusive.
 *
 * Insertion splits full nodes on the way down; deletion makes sure every
 * node it descends into has at least T keys (borrowing from a sibling or
 * merging with one), so both are single top-down passes.
 *
 * Output: one JSON line per workload on stdout, then a summary line.  Each
 * workload's per-operation latencies (little-endian uint32 nanoseconds,
 * saturating) go to DIR/<workload>.lat.  Errors: stderr, exit status 1.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <libpmemobj.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .lat files are written in host order, which must be little-endian"
#endif

/* ------------------------------------------------------------------------ */
/* B-tree layout                                                            */

#define KEY_LEN 16
#define BT_T 8                    /* minimum degree: order 2*T = 16 */
#define BT_MAX_KEYS (2 * BT_T - 1) /* 15 */
#define BT_MIN_KEYS (BT_T - 1)     /* 7, for every node but the root */
#define BT_MAX_DEPTH 48

#define LAYOUT_NAME "pmdkdrv-btree-v1"
#define TYPE_NODE 1
#define TYPE_VALUE 2

struct bitem {
	uint8_t key[KEY_LEN];
	PMEMoid val; /* a struct bvalue */
};

struct bnode {
	uint32_t n;    /* keys in use */
	uint32_t leaf; /* 1: no children (and no child array allocated) */
	uint64_t reserved;
	struct bitem it[BT_MAX_KEYS];
	PMEMoid child[BT_MAX_KEYS + 1]; /* internal nodes only */
};

#define LEAF_NODE_SIZE offsetof(struct bnode, child)
#define HDR_SIZE offsetof(struct bnode, reserved) /* n and leaf */

_Static_assert(sizeof(struct bitem) == 32, "item layout");
_Static_assert(LEAF_NODE_SIZE == 496, "leaf layout");
_Static_assert(sizeof(struct bnode) == 752, "node layout");

struct bvalue {
	uint64_t len;
	uint8_t data[];
};

struct broot {
	PMEMoid tree; /* root node, OID_NULL when the map is empty */
};

/* ------------------------------------------------------------------------ */
/* process state                                                            */

static PMEMobjpool *g_pop;
static struct broot *g_root;
static pthread_rwlock_t g_lock = PTHREAD_RWLOCK_INITIALIZER;

static void
fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("pmdkdrv: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fflush(stdout);
	_exit(1);
}

static inline struct bnode *
NODE(PMEMoid oid)
{
	return (struct bnode *)pmemobj_direct(oid);
}

/* snapshot [p, p+size) of an existing object into the running transaction */
static inline void
snap(const void *p, size_t size)
{
	if (size == 0)
		return;
	/* on failure the transaction aborts and control leaves via longjmp */
	pmemobj_tx_add_range_direct(p, size);
}

/*
 * find -- index of the first item of x whose key is >= key; *eq tells
 * whether it is equal
 */
static inline uint32_t
find(const struct bnode *x, const uint8_t *key, int *eq)
{
	uint32_t lo = 0, hi = x->n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		int c = memcmp(x->it[mid].key, key, KEY_LEN);
		if (c == 0) {
			*eq = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*eq = 0;
	return lo;
}

/* ------------------------------------------------------------------------ */
/* lookup                                                                   */

/* returns the value object of key, or NULL (caller holds the lock) */
static const struct bvalue *
bt_get(const uint8_t *key)
{
	if (OID_IS_NULL(g_root->tree))
		return NULL;
	const struct bnode *x = NODE(g_root->tree);
	for (;;) {
		int eq;
		uint32_t i = find(x, key, &eq);
		if (eq)
			return pmemobj_direct(x->it[i].val);
		if (x->leaf)
			return NULL;
		x = NODE(x->child[i]);
	}
}

/* ------------------------------------------------------------------------ */
/* insertion (inside a transaction)                                         */

static PMEMoid
new_node(int leaf, struct bnode **out)
{
	/*
	 * Zeroed, so that the unused slots hold defined bytes when a later
	 * transaction snapshots them (memcheck flags snapshots of bytes never
	 * written).  Objects allocated in this transaction are flushed at
	 * commit; they need no snapshot.
	 */
	PMEMoid oid = pmemobj_tx_zalloc(leaf ? LEAF_NODE_SIZE : sizeof(struct bnode),
			TYPE_NODE);
	struct bnode *x = NODE(oid);
	x->leaf = leaf ? 1 : 0;
	*out = x;
	return oid;
}

/*
 * split_child -- x->child[i] is full: move its upper T-1 items (and T
 * children) into a new right sibling and lift its median into x at i.
 * x is not full.
 */
static void
split_child(struct bnode *x, uint32_t i)
{
	struct bnode *y = NODE(x->child[i]);
	struct bnode *z;
	PMEMoid zoid = new_node(y->leaf, &z);

	memcpy(z->it, &y->it[BT_T], (BT_T - 1) * sizeof(struct bitem));
	if (!y->leaf)
		memcpy(z->child, &y->child[BT_T], BT_T * sizeof(PMEMoid));
	z->n = BT_T - 1;

	uint32_t n = x->n;
	snap(&x->it[i], (n - i + 1) * sizeof(struct bitem));
	snap(&x->child[i + 1], (n - i + 1) * sizeof(PMEMoid));
	snap(x, HDR_SIZE);
	memmove(&x->it[i + 1], &x->it[i], (n - i) * sizeof(struct bitem));
	memmove(&x->child[i + 2], &x->child[i + 1], (n - i) * sizeof(PMEMoid));
	x->it[i] = y->it[BT_T - 1];
	x->child[i + 1] = zoid;
	x->n = n + 1;

	/* the items y gave away stay as dead bytes; only its count changes */
	snap(y, HDR_SIZE);
	y->n = BT_T - 1;
}

/* replace the value of item it with val; returns the old value */
static PMEMoid
replace_val(struct bitem *it, PMEMoid val)
{
	PMEMoid old = it->val;
	snap(&it->val, sizeof(PMEMoid));
	it->val = val;
	return old;
}

/* bt_insert -- maps key to val; returns the value it replaced or OID_NULL */
static PMEMoid
bt_insert(const uint8_t *key, PMEMoid val)
{
	struct bnode *x;

	if (OID_IS_NULL(g_root->tree)) {
		PMEMoid oid = new_node(1, &x);
		memcpy(x->it[0].key, key, KEY_LEN);
		x->it[0].val = val;
		x->n = 1;
		snap(&g_root->tree, sizeof(PMEMoid));
		g_root->tree = oid;
		return OID_NULL;
	}

	x = NODE(g_root->tree);
	if (x->n == BT_MAX_KEYS) {
		/* grow: a new root above the full one, then split it */
		struct bnode *r;
		PMEMoid roid = new_node(0, &r);
		r->child[0] = g_root->tree;
		snap(&g_root->tree, sizeof(PMEMoid));
		g_root->tree = roid;
		split_child(r, 0);
		x = r;
	}

	for (;;) {
		int eq;
		uint32_t i = find(x, key, &eq);
		if (eq)
			return replace_val(&x->it[i], val);
		if (x->leaf) {
			uint32_t n = x->n;
			snap(&x->it[i], (n - i + 1) * sizeof(struct bitem));
			snap(x, HDR_SIZE);
			memmove(&x->it[i + 1], &x->it[i],
				(n - i) * sizeof(struct bitem));
			memcpy(x->it[i].key, key, KEY_LEN);
			x->it[i].val = val;
			x->n = n + 1;
			return OID_NULL;
		}
		if (NODE(x->child[i])->n == BT_MAX_KEYS) {
			split_child(x, i);
			int c = memcmp(key, x->it[i].key, KEY_LEN);
			if (c == 0)
				return replace_val(&x->it[i], val);
			if (c > 0)
				i++;
		}
		x = NODE(x->child[i]);
	}
}

/* ------------------------------------------------------------------------ */
/* deletion (inside a transaction)                                          */

/*
 * merge -- x->child[i] and x->child[i+1] both hold T-1 keys: append x's
 * item i and the right sibling to the left one, drop item i and the right
 * child from x and free the right node.
 */
static void
merge(struct bnode *x, uint32_t i)
{
	struct bnode *y = NODE(x->child[i]);
	PMEMoid zoid = x->child[i + 1];
	struct bnode *z = NODE(zoid);

	if (y->n != BT_MIN_KEYS || z->n != BT_MIN_KEYS)
		fatal("btree: merge of nodes with %u and %u keys", y->n, z->n);

	snap(&y->it[BT_T - 1], BT_T * sizeof(struct bitem));
	y->it[BT_T - 1] = x->it[i];
	memcpy(&y->it[BT_T], z->it, (BT_T - 1) * sizeof(struct bitem));
	if (!y->leaf) {
		snap(&y->child[BT_T], BT_T * sizeof(PMEMoid));
		memcpy(&y->child[BT_T], z->child, BT_T * sizeof(PMEMoid));
	}
	snap(y, HDR_SIZE);
	y->n = BT_MAX_KEYS;

	uint32_t n = x->n;
	snap(&x->it[i], (n - i - 1) * sizeof(struct bitem));
	snap(&x->child[i + 1], (n - i) * sizeof(PMEMoid));
	snap(x, HDR_SIZE);
	memmove(&x->it[i], &x->it[i + 1], (n - i - 1) * sizeof(struct bitem));
	memmove(&x->child[i + 1], &x->child[i + 2], (n - i - 1) * sizeof(PMEMoid));
	x->n = n - 1;

	pmemobj_tx_free(zoid);
}

/* borrow_left -- c = x->child[i] takes x's item i-1; its left sibling's last
 * item moves up into x */
static void
borrow_left(struct bnode *x, uint32_t i, struct bnode *c, struct bnode *l)
{
	uint32_t cn = c->n, ln = l->n;

	snap(c->it, (cn + 1) * sizeof(struct bitem));
	memmove(&c->it[1], &c->it[0], cn * sizeof(struct bitem));
	c->it[0] = x->it[i - 1];
	if (!c->leaf) {
		snap(c->child, (cn + 2) * sizeof(PMEMoid));
		memmove(&c->child[1], &c->child[0], (cn + 1) * sizeof(PMEMoid));
		c->child[0] = l->child[ln];
	}
	snap(c, HDR_SIZE);
	c->n = cn + 1;

	snap(&x->it[i - 1], sizeof(struct bitem));
	x->it[i - 1] = l->it[ln - 1];

	snap(l, HDR_SIZE);
	l->n = ln - 1;
}

/* borrow_right -- c = x->child[i] takes x's item i; its right sibling's
 * first item moves up into x */
static void
borrow_right(struct bnode *x, uint32_t i, struct bnode *c, struct bnode *r)
{
	uint32_t cn = c->n, rn = r->n;

	snap(&c->it[cn], sizeof(struct bitem));
	c->it[cn] = x->it[i];
	if (!c->leaf) {
		snap(&c->child[cn + 1], sizeof(PMEMoid));
		c->child[cn + 1] = r->child[0];
	}
	snap(c, HDR_SIZE);
	c->n = cn + 1;

	snap(&x->it[i], sizeof(struct bitem));
	x->it[i] = r->it[0];

	snap(r->it, (rn - 1) * sizeof(struct bitem));
	memmove(&r->it[0], &r->it[1], (rn - 1) * sizeof(struct bitem));
	if (!r->leaf) {
		snap(r->child, rn * sizeof(PMEMoid));
		memmove(&r->child[0], &r->child[1], rn * sizeof(PMEMoid));
	}
	snap(r, HDR_SIZE);
	r->n = rn - 1;
}

/*
 * fill_child -- make x->child[i] hold at least T keys before descending
 * into it; returns the node to descend into (after a merge with the left
 * sibling that is the left sibling)
 */
static struct bnode *
fill_child(struct bnode *x, uint32_t i)
{
	struct bnode *c = NODE(x->child[i]);
	if (c->n >= BT_T)
		return c;
	if (i > 0) {
		struct bnode *l = NODE(x->child[i - 1]);
		if (l->n >= BT_T) {
			borrow_left(x, i, c, l);
			return c;
		}
	}
	if (i < x->n) {
		struct bnode *r = NODE(x->child[i + 1]);
		if (r->n >= BT_T) {
			borrow_right(x, i, c, r);
			return c;
		}
		merge(x, i);
		return c;
	}
	struct bnode *l = NODE(x->child[i - 1]);
	merge(x, i - 1);
	return l;
}

/*
 * bt_remove_from -- removes key from the subtree at x (x is the root or has
 * at least T keys); the removed item is copied to *out.  Returns 0 when the
 * key is absent.
 */
static int
bt_remove_from(struct bnode *x, const uint8_t *key, struct bitem *out)
{
	for (;;) {
		int eq;
		uint32_t i = find(x, key, &eq);

		if (x->leaf) {
			if (!eq)
				return 0;
			uint32_t n = x->n;
			*out = x->it[i];
			snap(&x->it[i], (n - i - 1) * sizeof(struct bitem));
			snap(x, HDR_SIZE);
			memmove(&x->it[i], &x->it[i + 1],
				(n - i - 1) * sizeof(struct bitem));
			x->n = n - 1;
			return 1;
		}

		if (!eq) {
			x = fill_child(x, i);
			continue;
		}

		/* the key sits in internal node x at i */
		struct bnode *y = NODE(x->child[i]);
		struct bnode *z = NODE(x->child[i + 1]);
		if (y->n >= BT_T || z->n >= BT_T) {
			/* replace it with its predecessor (or successor), which
			 * is first removed from the child's subtree */
			uint8_t k2[KEY_LEN];
			struct bitem moved;
			struct bnode *sub = y->n >= BT_T ? y : z;
			const struct bnode *w = sub;
			if (sub == y) {
				while (!w->leaf)
					w = NODE(w->child[w->n]);
				memcpy(k2, w->it[w->n - 1].key, KEY_LEN);
			} else {
				while (!w->leaf)
					w = NODE(w->child[0]);
				memcpy(k2, w->it[0].key, KEY_LEN);
			}
			*out = x->it[i];
			if (!bt_remove_from(sub, k2, &moved))
				fatal("btree: neighbour key vanished");
			snap(&x->it[i], sizeof(struct bitem));
			x->it[i] = moved;
			return 1;
		}
		/* both children are minimal: merge them around the key and
		 * remove it from the merged node */
		merge(x, i);
		x = y;
	}
}

/* bt_remove -- returns 1 and the removed value's oid, or 0 if key is absent */
static int
bt_remove(const uint8_t *key, PMEMoid *val)
{
	if (OID_IS_NULL(g_root->tree))
		return 0;
	struct bitem gone;
	int found = bt_remove_from(NODE(g_root->tree), key, &gone);

	/* a merge at the root may have emptied it: the tree shrinks by one */
	PMEMoid roid = g_root->tree;
	struct bnode *r = NODE(roid);
	if (r->n == 0) {
		snap(&g_root->tree, sizeof(PMEMoid));
		g_root->tree = r->leaf ? OID_NULL : r->child[0];
		pmemobj_tx_free(roid);
	}
	if (found)
		*val = gone.val;
	return found;
}

/* ------------------------------------------------------------------------ */
/* store operations                                                         */

/* put_in_tx -- one put inside the caller's transaction */
static void
put_in_tx(const uint8_t *key, const uint8_t *src, size_t vlen)
{
	PMEMoid voi = pmemobj_tx_alloc(sizeof(struct bvalue) + vlen, TYPE_VALUE);
	struct bvalue *v = pmemobj_direct(voi);
	v->len = vlen;
	memcpy(v->data, src, vlen);
	PMEMoid old = bt_insert(key, voi);
	if (!OID_IS_NULL(old))
		pmemobj_tx_free(old);
}

/* store_put -- one durable put (one transaction) */
static void
store_put(const uint8_t *key, const uint8_t *src, size_t vlen)
{
	volatile int failed = 0;
	pthread_rwlock_wrlock(&g_lock);
	TX_BEGIN(g_pop) {
		put_in_tx(key, src, vlen);
	} TX_ONABORT {
		failed = pmemobj_tx_errno();
		if (!failed)
			failed = -1;
	} TX_END
	pthread_rwlock_unlock(&g_lock);
	if (failed)
		fatal("put transaction aborted: error %d (%s)", failed,
			pmemobj_errormsg());
}

static void
put_batch_in_tx(const uint8_t *keys, const uint8_t *const *vals, size_t n,
	size_t vlen)
{
	for (size_t j = 0; j < n; j++)
		put_in_tx(keys + j * KEY_LEN, vals[j], vlen);
}

/* store_put_batch -- n puts in one durable transaction */
static void
store_put_batch(const uint8_t *keys, const uint8_t *const *vals, size_t n,
	size_t vlen)
{
	volatile int failed = 0;
	pthread_rwlock_wrlock(&g_lock);
	TX_BEGIN(g_pop) {
		put_batch_in_tx(keys, vals, n, vlen);
	} TX_ONABORT {
		failed = pmemobj_tx_errno();
		if (!failed)
			failed = -1;
	} TX_END
	pthread_rwlock_unlock(&g_lock);
	if (failed)
		fatal("batch transaction aborted: error %d (%s)", failed,
			pmemobj_errormsg());
}

static void
del_in_tx(const uint8_t *key)
{
	PMEMoid val = OID_NULL;
	if (!bt_remove(key, &val))
		pmemobj_tx_abort(ENOENT); /* roll back any rebalancing */
	pmemobj_tx_free(val);
}

/* store_del -- one durable delete; returns 0 when the key was absent */
static int
store_del(const uint8_t *key)
{
	volatile int failed = 0;
	pthread_rwlock_wrlock(&g_lock);
	TX_BEGIN(g_pop) {
		del_in_tx(key);
	} TX_ONABORT {
		failed = pmemobj_tx_errno();
		if (!failed)
			failed = -1;
	} TX_END
	pthread_rwlock_unlock(&g_lock);
	if (failed == ENOENT)
		return 0;
	if (failed)
		fatal("delete transaction aborted: error %d (%s)", failed,
			pmemobj_errormsg());
	return 1;
}

/* store_get -- returns the value's length, or -1 when the key is absent */
static int64_t
store_get(const uint8_t *key)
{
	int64_t len = -1;
	pthread_rwlock_rdlock(&g_lock);
	const struct bvalue *v = bt_get(key);
	if (v != NULL)
		len = (int64_t)v->len;
	pthread_rwlock_unlock(&g_lock);
	return len;
}

/* ------------------------------------------------------------------------ */
/* ordered iteration (caller holds the lock)                                */

struct cursor {
	int depth;
	struct {
		const struct bnode *x;
		uint32_t i;
	} st[BT_MAX_DEPTH];
};

static void
cursor_descend(struct cursor *c, const struct bnode *x)
{
	for (;;) {
		if (c->depth >= BT_MAX_DEPTH)
			fatal("btree deeper than %d", BT_MAX_DEPTH);
		c->st[c->depth].x = x;
		c->st[c->depth].i = 0;
		c->depth++;
		if (x->leaf)
			return;
		x = NODE(x->child[0]);
	}
}

static void
cursor_first(struct cursor *c)
{
	c->depth = 0;
	if (!OID_IS_NULL(g_root->tree))
		cursor_descend(c, NODE(g_root->tree));
}

/* cursor_next -- the next item in key order, or NULL at the end */
static const struct bitem *
cursor_next(struct cursor *c)
{
	while (c->depth > 0) {
		const struct bnode *x = c->st[c->depth - 1].x;
		uint32_t i = c->st[c->depth - 1].i;
		if (i < x->n) {
			c->st[c->depth - 1].i = i + 1;
			if (!x->leaf)
				cursor_descend(c, NODE(x->child[i + 1]));
			return &x->it[i];
		}
		c->depth--;
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* pools                                                                    */

static void
pool_create(const char *path, uint64_t nkeys, size_t vlen)
{
	if (unlink(path) != 0 && errno != ENOENT)
		fatal("unlink %s: %s", path, strerror(errno));
	/*
	 * A pmemobj pool has a fixed size, allocated in full at create: 24 MiB
	 * plus 1.25 times a generous per-key estimate (value object, item and
	 * node share).  disk_bytes reports the whole pool: it is what PMDK
	 * occupies, whatever is live.
	 */
	uint64_t size = (24ULL << 20) + nkeys * ((uint64_t)vlen + 160) * 5 / 4;
	size = (size + (1ULL << 20) - 1) & ~((1ULL << 20) - 1);
	g_pop = pmemobj_create(path, LAYOUT_NAME, (size_t)size, 0600);
	if (g_pop == NULL)
		fatal("pmemobj_create %s (%" PRIu64 " bytes): %s", path, size,
			pmemobj_errormsg());
	PMEMoid r = pmemobj_root(g_pop, sizeof(struct broot));
	if (OID_IS_NULL(r))
		fatal("pmemobj_root: %s", pmemobj_errormsg());
	g_root = pmemobj_direct(r);
}

static void
pool_open(const char *path)
{
	g_pop = pmemobj_open(path, LAYOUT_NAME);
	if (g_pop == NULL)
		fatal("pmemobj_open %s: %s", path, pmemobj_errormsg());
	if (pmemobj_root_size(g_pop) < sizeof(struct broot))
		fatal("%s: root object too small", path);
	PMEMoid r = pmemobj_root(g_pop, sizeof(struct broot));
	if (OID_IS_NULL(r))
		fatal("pmemobj_root: %s", pmemobj_errormsg());
	g_root = pmemobj_direct(r);
}

static void
pool_close(void)
{
	pmemobj_close(g_pop);
	g_pop = NULL;
	g_root = NULL;
}

static void
remove_file(const char *path)
{
	if (unlink(path) != 0)
		fatal("unlink %s: %s", path, strerror(errno));
}

/* copy_file -- byte copy of src (the open pool) to dst; all-zero blocks are
 * left as holes, which read back as the same zeros */
static void
copy_file(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY);
	if (in < 0)
		fatal("open %s: %s", src, strerror(errno));
	if (unlink(dst) != 0 && errno != ENOENT)
		fatal("unlink %s: %s", dst, strerror(errno));
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (out < 0)
		fatal("create %s: %s", dst, strerror(errno));
	const size_t bs = 1 << 20;
	uint64_t *buf = malloc(bs);
	if (buf == NULL)
		fatal("out of memory");
	off_t off = 0;
	for (;;) {
		ssize_t r = pread(in, buf, bs, off);
		if (r < 0)
			fatal("read %s: %s", src, strerror(errno));
		if (r == 0)
			break;
		int zero = (r % 8) == 0;
		for (size_t k = 0; zero && k < (size_t)r / 8; k++)
			zero = buf[k] == 0;
		if (!zero) {
			for (ssize_t done = 0; done < r;) {
				ssize_t w = pwrite(out, (char *)buf + done,
					(size_t)(r - done), off + done);
				if (w < 0)
					fatal("write %s: %s", dst, strerror(errno));
				done += w;
			}
		}
		off += r;
	}
	if (ftruncate(out, off) != 0)
		fatal("truncate %s: %s", dst, strerror(errno));
	free(buf);
	close(in);
	if (close(out) != 0)
		fatal("close %s: %s", dst, strerror(errno));
}

/* ------------------------------------------------------------------------ */
/* randomness and timing                                                    */

static inline uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* uniform in [0, n) (multiply-shift; the bias is below 2^-32 here) */
static inline uint64_t
rand_below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)splitmix64(s) * n) >> 64);
}

static inline uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline uint32_t
sat32(uint64_t ns)
{
	return ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* ------------------------------------------------------------------------ */
/* the plan                                                                 */

#define VALBUF_SPAN (8u << 20) /* values are taken at offsets in [0, span) */

static const char *g_dir;
static uint8_t *g_keys; /* N keys, KEY_LEN bytes each */
static uint64_t g_n;    /* keys used by the current workload */
static size_t g_vlen;
static uint8_t *g_valbuf; /* VALBUF_SPAN + V random bytes */
static uint64_t g_seed = 1;

static inline const uint8_t *
key_at(uint64_t i)
{
	return g_keys + i * KEY_LEN;
}

static inline const uint8_t *
fresh_value(uint64_t *rng)
{
	return g_valbuf + rand_below(rng, VALBUF_SPAN);
}

static char *
path_in_dir(const char *name)
{
	size_t len = strlen(g_dir) + 1 + strlen(name) + 1;
	char *p = malloc(len);
	if (p == NULL)
		fatal("out of memory");
	snprintf(p, len, "%s/%s", g_dir, name);
	return p;
}

enum op_kind { OP_FILL, OP_OVERWRITE, OP_READ, OP_MIXED };

struct worker {
	pthread_t th;
	enum op_kind kind;
	uint64_t first, count; /* OP_FILL: key range; others: op count */
	uint64_t rng;
	uint32_t *lat;
	uint64_t nlat;
	pthread_barrier_t *start;
};

static void
check_get(const uint8_t *key)
{
	int64_t len = store_get(key);
	if (len < 0)
		fatal("get: key %.16s not found", (const char *)key);
	if ((uint64_t)len != g_vlen)
		fatal("get: key %.16s has a %" PRId64 "-byte value, want %zu",
			(const char *)key, len, g_vlen);
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	if (w->start != NULL)
		pthread_barrier_wait(w->start);
	for (uint64_t j = 0; j < w->count; j++) {
		uint64_t t0, t1;
		switch (w->kind) {
		case OP_FILL: {
			const uint8_t *v = fresh_value(&w->rng);
			t0 = now_ns();
			store_put(key_at(w->first + j), v, g_vlen);
			t1 = now_ns();
			break;
		}
		case OP_OVERWRITE: {
			const uint8_t *k = key_at(rand_below(&w->rng, g_n));
			const uint8_t *v = fresh_value(&w->rng);
			t0 = now_ns();
			store_put(k, v, g_vlen);
			t1 = now_ns();
			break;
		}
		case OP_READ: {
			const uint8_t *k = key_at(rand_below(&w->rng, g_n));
			t0 = now_ns();
			check_get(k);
			t1 = now_ns();
			break;
		}
		case OP_MIXED:
		default: {
			const uint8_t *k = key_at(rand_below(&w->rng, g_n));
			int is_put = rand_below(&w->rng, 10) == 0;
			if (is_put) {
				const uint8_t *v = fresh_value(&w->rng);
				t0 = now_ns();
				store_put(k, v, g_vlen);
				t1 = now_ns();
			} else {
				t0 = now_ns();
				check_get(k);
				t1 = now_ns();
			}
			break;
		}
		}
		w->lat[w->nlat++] = sat32(t1 - t0);
	}
	return NULL;
}

/* report -- writes the latencies and prints the workload's JSON line */
static void
report(const char *name, uint64_t ops, uint64_t ns, struct worker *ws,
	int nws)
{
	char fname[64];
	snprintf(fname, sizeof(fname), "%s.lat", name);
	char *path = path_in_dir(fname);
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		fatal("create %s: %s", path, strerror(errno));
	for (int t = 0; t < nws; t++)
		if (ws[t].nlat &&
		    fwrite(ws[t].lat, sizeof(uint32_t), ws[t].nlat, f) !=
				ws[t].nlat)
			fatal("write %s: %s", path, strerror(errno));
	if (fclose(f) != 0)
		fatal("write %s: %s", path, strerror(errno));

	printf("{\"workload\":\"%s\",\"ops\":%" PRIu64 ",\"ns\":%" PRIu64
		",\"lat\":\"", name, ops, ns);
	for (const char *p = path; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	printf("\"}\n");
	fflush(stdout);
	fprintf(stderr, "pmdkdrv: %-13s %10" PRIu64 " ops %10.3f ms %12.0f ops/s\n",
		name, ops, ns / 1e6, ns ? ops * 1e9 / ns : 0.0);
	free(path);
}

static uint64_t
workload_seed(int step, int thread)
{
	uint64_t s = g_seed ^ ((uint64_t)step << 40) ^ ((uint64_t)thread << 20);
	return splitmix64(&s);
}

/*
 * run_threads -- runs one workload of `total` ops on nthreads threads (the
 * calling thread itself when nthreads is 1), and reports it
 */
static void
run_threads(const char *name, int step, enum op_kind kind, int nthreads,
	uint64_t total)
{
	struct worker ws[8];
	pthread_barrier_t bar;
	if (nthreads < 1 || nthreads > 8)
		fatal("bad thread count");
	if (nthreads > 1)
		pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
	for (int t = 0; t < nthreads; t++) {
		struct worker *w = &ws[t];
		uint64_t lo = total * (uint64_t)t / (uint64_t)nthreads;
		uint64_t hi = total * (uint64_t)(t + 1) / (uint64_t)nthreads;
		w->kind = kind;
		w->first = lo;
		w->count = hi - lo;
		w->rng = workload_seed(step, t);
		w->lat = malloc((w->count ? w->count : 1) * sizeof(uint32_t));
		if (w->lat == NULL)
			fatal("out of memory");
		w->nlat = 0;
		w->start = nthreads > 1 ? &bar : NULL;
	}
	uint64_t t0, t1;
	if (nthreads == 1) {
		t0 = now_ns();
		worker_run(&ws[0]);
		t1 = now_ns();
	} else {
		for (int t = 0; t < nthreads; t++) {
			int e = pthread_create(&ws[t].th, NULL, worker_run, &ws[t]);
			if (e != 0)
				fatal("pthread_create: %s", strerror(e));
		}
		pthread_barrier_wait(&bar);
		t0 = now_ns();
		for (int t = 0; t < nthreads; t++)
			pthread_join(ws[t].th, NULL);
		t1 = now_ns();
		pthread_barrier_destroy(&bar);
	}
	report(name, total, t1 - t0, ws, nthreads);
	for (int t = 0; t < nthreads; t++)
		free(ws[t].lat);
}

/* step 1: the N keys in order, 1000 puts per transaction; one latency per
 * transaction */
static void
run_fillbatch(void)
{
	const uint64_t B = 1000;
	uint64_t nb = (g_n + B - 1) / B;
	struct worker w;
	memset(&w, 0, sizeof(w));
	w.lat = malloc((nb ? nb : 1) * sizeof(uint32_t));
	const uint8_t **vals = malloc(B * sizeof(*vals));
	if (w.lat == NULL || vals == NULL)
		fatal("out of memory");
	uint64_t rng = workload_seed(1, 0);
	uint64_t t0 = now_ns();
	for (uint64_t b = 0; b < nb; b++) {
		uint64_t lo = b * B;
		uint64_t cnt = g_n - lo < B ? g_n - lo : B;
		for (uint64_t j = 0; j < cnt; j++)
			vals[j] = fresh_value(&rng);
		uint64_t a = now_ns();
		store_put_batch(key_at(lo), (const uint8_t *const *)vals,
			(size_t)cnt, g_vlen);
		w.lat[w.nlat++] = sat32(now_ns() - a);
	}
	uint64_t t1 = now_ns();
	report("fillbatch", g_n, t1 - t0, &w, 1);
	free(vals);
	free(w.lat);
}

/* a lookup of K[0] right after an open: part of being ready for gets */
static void
first_lookup(void)
{
	check_get(key_at(0));
}

/* step 5 / step 10 helper: times an open of path plus the first lookup */
static void
timed_open(const char *name, const char *path)
{
	struct worker w;
	uint32_t lat;
	memset(&w, 0, sizeof(w));
	w.lat = &lat;
	uint64_t t0 = now_ns();
	pool_open(path);
	first_lookup();
	uint64_t t1 = now_ns();
	w.lat[w.nlat++] = sat32(t1 - t0);
	report(name, 1, t1 - t0, &w, 1);
}

/* step 8: one ordered scan, each step of the cursor timed */
static void
run_readseq(void)
{
	struct worker w;
	memset(&w, 0, sizeof(w));
	w.lat = malloc((g_n ? g_n : 1) * sizeof(uint32_t));
	if (w.lat == NULL)
		fatal("out of memory");
	uint8_t prev[KEY_LEN];
	uint64_t seen = 0;
	struct cursor *c = malloc(sizeof(*c));
	if (c == NULL)
		fatal("out of memory");

	uint64_t t0 = now_ns();
	pthread_rwlock_rdlock(&g_lock);
	cursor_first(c);
	for (;;) {
		/*
		 * No clock per key: a scan has no per-key call, and the harness
		 * reports the scan's mean per key (like the Go stores').  Two
		 * clock reads per key would double the cost of a step here.
		 */
		const struct bitem *it = cursor_next(c);
		if (it == NULL)
			break;
		uint64_t vlen = ((const struct bvalue *)pmemobj_direct(it->val))->len;
		if (seen > 0 && memcmp(prev, it->key, KEY_LEN) >= 0)
			fatal("readseq: keys out of order at position %" PRIu64,
				seen);
		if (vlen != g_vlen)
			fatal("readseq: %" PRIu64 "-byte value", vlen);
		memcpy(prev, it->key, KEY_LEN);
		if (seen == g_n)
			fatal("readseq: more than %" PRIu64 " keys", g_n);
		seen++;
	}
	pthread_rwlock_unlock(&g_lock);
	uint64_t t1 = now_ns();
	if (seen != g_n)
		fatal("readseq: visited %" PRIu64 " keys, want %" PRIu64, seen,
			g_n);
	report("readseq", g_n, t1 - t0, &w, 1);
	free(c);
	free(w.lat);
}

/* step 11: every key once, in a random order */
static void
run_deleterandom(void)
{
	struct worker w;
	memset(&w, 0, sizeof(w));
	w.lat = malloc((g_n ? g_n : 1) * sizeof(uint32_t));
	uint64_t *perm = malloc((g_n ? g_n : 1) * sizeof(uint64_t));
	if (w.lat == NULL || perm == NULL)
		fatal("out of memory");
	uint64_t rng = workload_seed(11, 0);
	for (uint64_t i = 0; i < g_n; i++)
		perm[i] = i;
	for (uint64_t i = g_n; i > 1; i--) {
		uint64_t j = rand_below(&rng, i);
		uint64_t tmp = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = tmp;
	}
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < g_n; i++) {
		const uint8_t *k = key_at(perm[i]);
		uint64_t a = now_ns();
		int ok = store_del(k);
		w.lat[w.nlat++] = sat32(now_ns() - a);
		if (!ok)
			fatal("deleterandom: key %.16s not found",
				(const char *)k);
	}
	uint64_t t1 = now_ns();
	if (!OID_IS_NULL(g_root->tree))
		fatal("deleterandom: tree not empty after deleting every key");
	report("deleterandom", g_n, t1 - t0, &w, 1);
	free(perm);
	free(w.lat);
}

static uint64_t
disk_bytes(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		fatal("stat %s: %s", path, strerror(errno));
	return (uint64_t)st.st_blocks * 512;
}

/* stderr only: how much of the pool the objects use (not part of the output
 * protocol; pmemobj_create allocates the whole pool file up front) */
static void
note_pool_usage(const char *path)
{
	uint64_t objs = 0, bytes = 0;
	for (PMEMoid o = pmemobj_first(g_pop); !OID_IS_NULL(o);
	     o = pmemobj_next(o)) {
		objs++;
		bytes += pmemobj_alloc_usable_size(o);
	}
	struct stat st;
	if (stat(path, &st) != 0)
		fatal("stat %s: %s", path, strerror(errno));
	fprintf(stderr,
		"pmdkdrv: %s: file %lld bytes, %lld allocated; %" PRIu64
		" live objects, %" PRIu64 " usable bytes\n",
		path, (long long)st.st_size, (long long)st.st_blocks * 512,
		objs, bytes);
}

static void
summary(uint64_t dbytes)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		fatal("getrusage: %s", strerror(errno));
	printf("{\"summary\":true,\"maxrss_kb\":%ld,\"disk_bytes\":%" PRIu64
		"}\n", ru.ru_maxrss, dbytes);
	fflush(stdout);
}

static void
load_keys(const char *path, uint64_t n)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		fatal("open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0)
		fatal("stat %s: %s", path, strerror(errno));
	if ((uint64_t)st.st_size < n * KEY_LEN)
		fatal("%s holds %lld bytes, fewer than %" PRIu64 " keys", path,
			(long long)st.st_size, n);
	if ((uint64_t)st.st_size != n * KEY_LEN)
		fprintf(stderr, "pmdkdrv: %s is longer than %" PRIu64
			" keys; using the first %" PRIu64 "\n", path, n, n);
	g_keys = malloc(n > 0 ? n * KEY_LEN : 1);
	if (g_keys == NULL)
		fatal("out of memory");
	size_t got = 0, want = (size_t)(n * KEY_LEN);
	while (got < want) {
		ssize_t r = read(fd, g_keys + got, want - got);
		if (r <= 0)
			fatal("read %s: %s", path, r < 0 ? strerror(errno) : "EOF");
		got += (size_t)r;
	}
	close(fd);
}

static void
make_values(void)
{
	size_t len = VALBUF_SPAN + g_vlen;
	g_valbuf = malloc(len + 8);
	if (g_valbuf == NULL)
		fatal("out of memory");
	uint64_t s = g_seed ^ 0x76616c756573ULL;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t r = splitmix64(&s);
		memcpy(g_valbuf + i, &r, 8);
	}
}

static void
run_plan(uint64_t n_all, uint64_t ops_limit)
{
	char *batch = path_in_dir("batch.pool");
	char *main_pool = path_in_dir("main.pool");
	char *crash = path_in_dir("crash.pool");
	char *w8 = path_in_dir("w8.pool");
	uint64_t dbytes = 0;

	if (ops_limit) {
		g_n = ops_limit < n_all ? ops_limit : n_all;
		if (ops_limit > n_all)
			fprintf(stderr, "pmdkdrv: --ops-limit %" PRIu64
				" exceeds --num; using %" PRIu64 " keys\n",
				ops_limit, n_all);
		/* fillrandom on the first M keys, then fill8 on them */
		pool_create(main_pool, g_n, g_vlen);
		run_threads("fillrandom", 2, OP_FILL, 1, g_n);
		pool_close();
		remove_file(main_pool);

		pool_create(w8, g_n, g_vlen);
		run_threads("fill8", 12, OP_FILL, 8, g_n);
		pool_close();
		remove_file(w8);
		summary(0);
		goto out;
	}

	g_n = n_all;

	/* 1 */
	pool_create(batch, g_n, g_vlen);
	run_fillbatch();
	pool_close();
	remove_file(batch);

	/* 2, 3 */
	pool_create(main_pool, g_n, g_vlen);
	run_threads("fillrandom", 2, OP_FILL, 1, g_n);
	run_threads("overwrite", 3, OP_OVERWRITE, 1, g_n);

	/* 4 */
	dbytes = disk_bytes(main_pool);
	note_pool_usage(main_pool);

	/* 5 */
	pool_close();
	timed_open("reopen", main_pool);

	/* 6 .. 9 */
	run_threads("readrandom", 6, OP_READ, 1, g_n);
	run_threads("readrandom2", 7, OP_READ, 2, g_n);
	run_readseq();
	run_threads("mixed", 9, OP_MIXED, 2, g_n);

	/*
	 * 10: the copy is taken while main.pool is open.  libpmemobj refuses
	 * to open a second pool with the UUID of one already open in the
	 * process, so main.pool is closed (untimed) before the copy is
	 * opened, and reopened (untimed) once the copy is gone.
	 */
	copy_file(main_pool, crash);
	pool_close();
	timed_open("reopen-crash", crash);
	pool_close();
	remove_file(crash);
	pool_open(main_pool);

	/* 11 */
	run_deleterandom();
	pool_close();
	remove_file(main_pool);

	/* 12 */
	pool_create(w8, g_n, g_vlen);
	run_threads("fill8", 12, OP_FILL, 8, g_n);
	pool_close();
	remove_file(w8);

	summary(dbytes);
out:
	free(batch);
	free(main_pool);
	free(crash);
	free(w8);
}

/* ------------------------------------------------------------------------ */
/* --selftest: deletes with rebalancing keep lookups and order correct      */

static uint64_t st_nodes;

/* check_subtree -- B-tree invariants; returns the leaf depth */
static int
check_subtree(const struct bnode *x, int is_root, const uint8_t *lo,
	const uint8_t *hi, int depth)
{
	st_nodes++;
	if (x->n > BT_MAX_KEYS || (!is_root && x->n < BT_MIN_KEYS) ||
	    x->n == 0)
		fatal("selftest: node with %u keys", x->n);
	for (uint32_t i = 0; i < x->n; i++) {
		if (i > 0 && memcmp(x->it[i - 1].key, x->it[i].key, KEY_LEN) >= 0)
			fatal("selftest: keys out of order inside a node");
		if (lo && memcmp(x->it[i].key, lo, KEY_LEN) <= 0)
			fatal("selftest: key below its subtree bound");
		if (hi && memcmp(x->it[i].key, hi, KEY_LEN) >= 0)
			fatal("selftest: key above its subtree bound");
		const struct bvalue *v = pmemobj_direct(x->it[i].val);
		if (v == NULL)
			fatal("selftest: item without a value");
	}
	if (x->leaf)
		return depth;
	int d = -1;
	for (uint32_t i = 0; i <= x->n; i++) {
		const uint8_t *clo = i == 0 ? lo : x->it[i - 1].key;
		const uint8_t *chi = i == x->n ? hi : x->it[i].key;
		int cd = check_subtree(NODE(x->child[i]), 0, clo, chi, depth + 1);
		if (d >= 0 && cd != d)
			fatal("selftest: leaves at different depths");
		d = cd;
	}
	return d;
}

/* verify -- structure, every present key found with its value, every absent
 * key missing, and an ascending walk of exactly the present keys */
static void
verify(const uint8_t *keys, const uint8_t *present, const uint64_t *ver,
	uint64_t n, const char *when)
{
	uint64_t want = 0;
	st_nodes = 0;
	if (!OID_IS_NULL(g_root->tree))
		check_subtree(NODE(g_root->tree), 1, NULL, NULL, 0);
	for (uint64_t i = 0; i < n; i++) {
		const struct bvalue *v = bt_get(keys + i * KEY_LEN);
		if (present[i]) {
			want++;
			if (v == NULL)
				fatal("selftest (%s): key %" PRIu64 " missing",
					when, i);
			uint64_t tag;
			memcpy(&tag, v->data, sizeof(tag));
			if (v->len != g_vlen || tag != ver[i])
				fatal("selftest (%s): key %" PRIu64
					" has a wrong value", when, i);
		} else if (v != NULL) {
			fatal("selftest (%s): deleted key %" PRIu64 " found",
				when, i);
		}
	}
	struct cursor c;
	cursor_first(&c);
	uint64_t seen = 0;
	const struct bitem *it, *prev = NULL;
	uint8_t pk[KEY_LEN];
	while ((it = cursor_next(&c)) != NULL) {
		if (prev && memcmp(pk, it->key, KEY_LEN) >= 0)
			fatal("selftest (%s): walk not ascending", when);
		memcpy(pk, it->key, KEY_LEN);
		prev = it;
		seen++;
	}
	if (seen != want)
		fatal("selftest (%s): walk saw %" PRIu64 " keys, want %" PRIu64,
			when, seen, want);
	fprintf(stderr, "pmdkdrv: selftest %-28s ok: %" PRIu64 " keys, %"
		PRIu64 " nodes\n", when, want, st_nodes);
}

static void
st_put(const uint8_t *key, uint64_t tag, uint8_t *vbuf)
{
	memcpy(vbuf, &tag, sizeof(tag));
	store_put(key, vbuf, g_vlen);
}

static int
selftest(uint64_t n)
{
	if (n < 16)
		n = 16;
	g_vlen = 24;
	uint8_t vbuf[24];
	memset(vbuf, 0xab, sizeof(vbuf));
	uint8_t *keys = malloc(n * KEY_LEN);
	uint8_t *present = calloc(n, 1);
	uint64_t *ver = calloc(n, sizeof(uint64_t));
	uint64_t *perm = malloc(n * sizeof(uint64_t));
	if (!keys || !present || !ver || !perm)
		fatal("out of memory");
	uint64_t rng = g_seed ^ 0x5e1f7e57ULL;

	/* distinct keys "%016d" of i*7919+13 shuffled, like the bench's */
	for (uint64_t i = 0; i < n; i++)
		perm[i] = i;
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = rand_below(&rng, i), t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	for (uint64_t i = 0; i < n; i++) {
		char tmp[32];
		snprintf(tmp, sizeof(tmp), "%016" PRIu64, perm[i] * 7919 + 13);
		memcpy(keys + i * KEY_LEN, tmp, KEY_LEN);
	}

	char *path = path_in_dir("selftest.pool");
	pool_create(path, n, g_vlen);
	uint64_t tagc = 1;

	for (uint64_t i = 0; i < n; i++) {
		ver[i] = tagc++;
		st_put(keys + i * KEY_LEN, ver[i], vbuf);
		present[i] = 1;
	}
	verify(keys, present, ver, n, "after insert");

	/* replace a random quarter */
	for (uint64_t k = 0; k < n / 4; k++) {
		uint64_t i = rand_below(&rng, n);
		ver[i] = tagc++;
		st_put(keys + i * KEY_LEN, ver[i], vbuf);
	}
	verify(keys, present, ver, n, "after replace");

	for (int round = 0; round < 6; round++) {
		/* delete a random half of the present keys */
		for (uint64_t i = 0; i < n; i++) {
			if (present[i] && rand_below(&rng, 2) == 0) {
				if (!store_del(keys + i * KEY_LEN))
					fatal("selftest: delete of present key "
						"%" PRIu64 " failed", i);
				present[i] = 0;
			}
		}
		/* deleting absent keys must fail and change nothing */
		for (uint64_t k = 0; k < 64; k++) {
			uint64_t i = rand_below(&rng, n);
			if (!present[i] && store_del(keys + i * KEY_LEN))
				fatal("selftest: delete of absent key succeeded");
		}
		char when[64];
		snprintf(when, sizeof(when), "round %d after delete", round);
		verify(keys, present, ver, n, when);
		if (round == 2) {
			pool_close();
			pool_open(path);
			verify(keys, present, ver, n, "after reopen");
		}
		/* put a random third of the absent keys back */
		for (uint64_t i = 0; i < n; i++) {
			if (!present[i] && rand_below(&rng, 3) == 0) {
				ver[i] = tagc++;
				st_put(keys + i * KEY_LEN, ver[i], vbuf);
				present[i] = 1;
			}
		}
		snprintf(when, sizeof(when), "round %d after reinsert", round);
		verify(keys, present, ver, n, when);
	}

	/* delete everything in random order */
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = rand_below(&rng, i), t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	for (uint64_t k = 0; k < n; k++) {
		uint64_t i = perm[k];
		if (!present[i])
			continue;
		if (!store_del(keys + i * KEY_LEN))
			fatal("selftest: final delete of key %" PRIu64 " failed",
				i);
		present[i] = 0;
		if (k % (n / 8 + 1) == 0)
			verify(keys, present, ver, n, "during delete-all");
	}
	verify(keys, present, ver, n, "after delete-all");
	if (!OID_IS_NULL(g_root->tree))
		fatal("selftest: tree not empty");
	uint64_t objs = 0;
	for (PMEMoid o = pmemobj_first(g_pop); !OID_IS_NULL(o);
	     o = pmemobj_next(o))
		objs++;
	if (objs != 0)
		fatal("selftest: %" PRIu64 " objects leaked", objs);

	pool_close();
	remove_file(path);
	free(path);
	free(keys);
	free(present);
	free(ver);
	free(perm);
	fprintf(stderr, "pmdkdrv: selftest passed\n");
	return 0;
}

/* ------------------------------------------------------------------------ */

static uint64_t
parse_u64(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end != '\0' || s[0] == '-')
		fatal("bad value for --%s: %s", opt, s);
	return (uint64_t)v;
}

static void
usage(void)
{
	fprintf(stderr, "usage: pmdkdrv --dir DIR --keys FILE --num N "
		"--value-size V [--ops-limit M] [--seed S]\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"keys", required_argument, NULL, 'k'},
		{"num", required_argument, NULL, 'n'},
		{"value-size", required_argument, NULL, 'v'},
		{"ops-limit", required_argument, NULL, 'm'},
		{"seed", required_argument, NULL, 's'},
		{"selftest", no_argument, NULL, 'T'},
		{NULL, 0, NULL, 0},
	};
	const char *keys = NULL;
	uint64_t n = 0, vlen = 0, limit = 0;
	int have_n = 0, have_v = 0, self = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': g_dir = optarg; break;
		case 'k': keys = optarg; break;
		case 'n': n = parse_u64("num", optarg); have_n = 1; break;
		case 'v': vlen = parse_u64("value-size", optarg); have_v = 1; break;
		case 'm':
			limit = parse_u64("ops-limit", optarg);
			if (limit == 0)
				fatal("--ops-limit must be positive");
			break;
		case 's': g_seed = parse_u64("seed", optarg); break;
		case 'T': self = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();

	if (self) {
		if (g_dir == NULL)
			g_dir = "/dev/shm";
		return selftest(have_n ? n : 20000);
	}

	if (g_dir == NULL || keys == NULL || !have_n || !have_v)
		usage();
	if (n == 0)
		fatal("--num must be positive");
	if (vlen > (1u << 30))
		fatal("--value-size too large");
	if (n > UINT64_MAX / 8192)
		fatal("--num too large");
	if (getenv("PMEM_IS_PMEM_FORCE") == NULL)
		fprintf(stderr, "pmdkdrv: note: PMEM_IS_PMEM_FORCE is not set; "
			"on a non-DAX file system libpmem persists with msync\n");

	g_vlen = (size_t)vlen;
	load_keys(keys, n);
	make_values();
	run_plan(n, limit);
	free(g_keys);
	free(g_valbuf);
	return 0;
}
