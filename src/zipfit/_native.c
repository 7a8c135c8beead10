/* Exact gzip lengths C(x) and C(x + y_j) for one source x and many targets, without emitting a bit.
 *
 * The result equals len(gzip.compress(x + y_j, level)) for levels 1-9: the model below follows the
 * decisions zlib 1.2.x makes for a one-shot compression with windowBits 15 and memLevel 8 (LZ77
 * matching as in deflate_fast / deflate_slow, a block ends when its symbol buffer of 16383 entries
 * fills, and each block is stored, fixed or dynamic by comparing the lengths the three would take).
 * Only lengths are computed: a block's dynamic size comes from Huffman code lengths built from the
 * symbol frequencies (same heap, same tie-breaks, same overflow repair as zlib, since any
 * difference in a code length changes the size), never from codes or bits.
 *
 * x is matched once up to the point where the next decision could see a byte of y (262 bytes
 * before its end); every target then resumes from that state. What a target changes in the hash
 * tables is recorded in an undo log and rolled back, so no full state is ever copied.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define WBITS 15
#define WSIZE (1u << WBITS)
#define WMASK (WSIZE - 1)
#define WINDOW_SIZE (2 * WSIZE)
#define HASH_BITS 15 /* memLevel 8 + 7 */
#define HASH_SIZE (1u << HASH_BITS)
#define HASH_MASK (HASH_SIZE - 1)
#define MIN_MATCH 3
#define MAX_MATCH 258
#define MIN_LOOKAHEAD (MAX_MATCH + MIN_MATCH + 1)
#define MAX_DIST (WSIZE - MIN_LOOKAHEAD)
#define TOO_FAR 4096
#define SYM_LIMIT ((1u << (8 + 6)) - 1) /* lit_bufsize - 1 symbols per block */
#define PAD 320                         /* zeros after the data: matching may read up to 258 bytes ahead */

#define L_CODES 286
#define D_CODES 30
#define BL_CODES 19
#define HEAP_SIZE (2 * L_CODES + 1)
#define MAX_BITS 15
#define MAX_BL_BITS 7
#define END_BLOCK 256
#define GZIP_OVERHEAD 18

typedef struct {
    int good, lazy, nice, chain, slow;
} Config;

static const Config CONFIG[10] = {
    {0, 0, 0, 0, 0},       {4, 4, 8, 4, 0},       {4, 5, 16, 8, 0},        {4, 6, 32, 32, 0},
    {4, 4, 16, 16, 1},     {8, 16, 32, 32, 1},    {8, 16, 128, 128, 1},    {8, 32, 128, 256, 1},
    {32, 128, 258, 1024, 1}, {32, 258, 258, 4096, 1},
};

static const uint8_t EXTRA_LBITS[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                        2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint8_t EXTRA_DBITS[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                        6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
static const uint8_t EXTRA_BLBITS[BL_CODES] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 7};
static const uint8_t BL_ORDER[BL_CODES] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

static uint8_t LENGTH_CODE[256];
static uint8_t DIST_CODE[512];
static uint8_t STATIC_LLEN[L_CODES + 2];
static uint8_t STATIC_DLEN[D_CODES];
static uint8_t LIT_XBITS[L_CODES]; /* extra bits per literal/length symbol */

static void init_tables(void) {
    int code, n, length = 0, dist = 0;
    for (code = 0; code < 28; code++)
        for (n = 0; n < (1 << EXTRA_LBITS[code]); n++) LENGTH_CODE[length++] = (uint8_t)code;
    LENGTH_CODE[255] = 28; /* length 258 has its own code */
    for (code = 0; code < 16; code++)
        for (n = 0; n < (1 << EXTRA_DBITS[code]); n++) DIST_CODE[dist++] = (uint8_t)code;
    dist >>= 7;
    for (; code < D_CODES; code++)
        for (n = 0; n < (1 << (EXTRA_DBITS[code] - 7)); n++) DIST_CODE[256 + dist++] = (uint8_t)code;
    for (n = 0; n <= 143; n++) STATIC_LLEN[n] = 8;
    for (; n <= 255; n++) STATIC_LLEN[n] = 9;
    for (; n <= 279; n++) STATIC_LLEN[n] = 7;
    for (; n <= 287; n++) STATIC_LLEN[n] = 8;
    for (n = 0; n < D_CODES; n++) STATIC_DLEN[n] = 5;
    for (n = 0; n < L_CODES; n++) LIT_XBITS[n] = n > 256 ? EXTRA_LBITS[n - 257] : 0;
}

static inline unsigned d_code(unsigned dist) { return dist < 256 ? DIST_CODE[dist] : DIST_CODE[256 + (dist >> 7)]; }

/* Everything a target may change besides the hash tables. */
typedef struct {
    long base;           /* absolute offset of window[0]: a slide moves it by WSIZE instead of copying */
    unsigned strstart;   /* relative to base */
    long block_start;    /* relative to base; negative once slid out of the window */
    unsigned match_length, prev_length, prev_match, match_start;
    int match_available;
    unsigned syms;       /* symbols tallied in the current block */
    uint64_t bits;       /* bits of the blocks already closed */
    uint16_t lfreq[L_CODES];
    uint16_t dfreq[D_CODES];
} State;

/* How insert_string records what it overwrites. */
enum { LOG_X, LOG_HEAD, LOG_HEAD_PREV, LOG_NONE };

/* Scratch for one Huffman tree build, laid out as zlib's ct_data arrays. */
typedef struct {
    uint16_t freq[HEAP_SIZE];
    uint16_t dad[HEAP_SIZE];
    uint16_t len[HEAP_SIZE + 1];
} Tree;

typedef struct {
    PyObject_HEAD
    int level;
    Config cfg;
    Py_ssize_t n_targets;
    PyObject **targets; /* owned references to bytes objects */
    Py_ssize_t longest;
    uint8_t *buf;
    size_t buf_cap;
    uint16_t head[HASH_SIZE];
    uint16_t prev[WSIZE];
    uint16_t *backup; /* head + prev before a target first slides the window */
    int backed_up;
    int busy;          /* set while lengths() runs without the GIL */
    int mode;          /* LOG_*: x is matched with LOG_X, targets with LOG_HEAD(_PREV), LOG_NONE after a backup */
    uint32_t *hlog;    /* per target: head slot | old value << 16 */
    uint32_t *plog;    /* per target, only when x + y exceeds WSIZE: prev slot | old value << 16 */
    size_t hlen, plen, log_cap;
    uint32_t *touched; /* head slots written while matching x, to clear them for the next x */
    size_t touched_len, touched_cap;
    /* tree scratch */
    Tree lt, dt, bt;
    uint16_t bl_count[MAX_BITS + 1];
    uint64_t opt_len, static_len;
} Kernel;

/* ---------- Huffman code lengths (what trees.c computes, without the codes) ---------- */

/* A heap entry packs a node's frequency, depth and number, so that zlib's order (frequency, then
 * depth, ties to either side) is one integer comparison of the entries without their numbers. */
#define NODE_BITS 10
#define DEPTH_SHIFT NODE_BITS
#define FREQ_SHIFT (NODE_BITS + 5)
#define NODE_MASK ((1u << NODE_BITS) - 1)
#define KEY(freq, depth, node) (((uint32_t)(freq) << FREQ_SHIFT) | ((uint32_t)(depth) << DEPTH_SHIFT) | (uint32_t)(node))
#define SMALLER(a, b) ((a) <= ((b) | NODE_MASK))
#define SENTINEL UINT32_MAX /* kept at heap[heap_len + 1]: never the smaller child */

static inline void pqdownheap(uint32_t *heap, int heap_len, int node) {
    uint32_t v = heap[node];
    int j = node << 1;
    while (j <= heap_len) {
        uint32_t c = heap[j], c1 = heap[j + 1];
        if (SMALLER(c1, c)) j++, c = c1;
        if (SMALLER(v, c)) break;
        heap[node] = c;
        node = j;
        j <<= 1;
    }
    heap[node] = v;
}

/* Builds code lengths for t (frequencies in t->freq[0..elems)), adds the data bits to opt_len and
 * static_len, returns max_code. stree == NULL: the bit-length tree, which has no static form. */
static int build_tree(Kernel *k, Tree *t, int elems, const uint8_t *stree, const uint8_t *extra, int base,
                      int max_length) {
    uint32_t heap[HEAP_SIZE + 1];
    int order[HEAP_SIZE]; /* zlib's heap[heap_max..]: nodes by increasing frequency */
    int heap_len = 0, heap_max = HEAP_SIZE;
    int n, m, max_code = -1, node, h, bits, overflow = 0;
    const uint16_t *freq = t->freq;
    for (n = 0; n < elems; n++) {
        if (freq[n] != 0) {
            heap[++heap_len] = KEY(freq[n], 0, n);
            max_code = n;
        } else {
            t->len[n] = 0;
        }
    }
    /* deflate needs at least two codes: force nodes of frequency 1, cancelling their cost */
    while (heap_len < 2) {
        node = max_code < 2 ? ++max_code : 0;
        heap[++heap_len] = KEY(1, 0, node);
        t->freq[node] = 1;
        k->opt_len--;
        if (stree) k->static_len -= stree[node];
    }
    heap[heap_len + 1] = SENTINEL;
    for (n = heap_len / 2; n >= 1; n--) pqdownheap(heap, heap_len, n);
    node = elems;
    do {
        uint32_t a = heap[1];
        heap[1] = heap[heap_len];
        heap[heap_len--] = SENTINEL;
        pqdownheap(heap, heap_len, 1);
        uint32_t b = heap[1];
        order[--heap_max] = (int)(a & NODE_MASK);
        order[--heap_max] = (int)(b & NODE_MASK);
        uint32_t da = (a >> DEPTH_SHIFT) & 31, db = (b >> DEPTH_SHIFT) & 31;
        uint32_t f = (a >> FREQ_SHIFT) + (b >> FREQ_SHIFT);
        t->dad[a & NODE_MASK] = t->dad[b & NODE_MASK] = (uint16_t)node;
        heap[1] = KEY(f, (da >= db ? da : db) + 1, node);
        node++;
        pqdownheap(heap, heap_len, 1);
    } while (heap_len >= 2);
    order[--heap_max] = (int)(heap[1] & NODE_MASK);

    /* gen_bitlen: depths from the root down, clamped to max_length, then repaired */
    uint16_t *bl_count = k->bl_count;
    for (bits = 0; bits <= MAX_BITS; bits++) bl_count[bits] = 0;
    t->len[order[heap_max]] = 0;
    uint64_t opt = 0, stat = 0;
    for (h = heap_max + 1; h < HEAP_SIZE; h++) {
        n = order[h];
        bits = t->len[t->dad[n]] + 1;
        if (bits > max_length) bits = max_length, overflow++;
        t->len[n] = (uint16_t)bits;
        if (n > max_code) continue;
        bl_count[bits]++;
        int xbits = n >= base ? extra[n - base] : 0;
        unsigned f = t->freq[n];
        opt += (uint64_t)f * (unsigned)(bits + xbits);
        if (stree) stat += (uint64_t)f * (unsigned)(stree[n] + xbits);
    }
    k->opt_len += opt;
    k->static_len += stat;
    if (overflow == 0) return max_code;
    do {
        bits = max_length - 1;
        while (bl_count[bits] == 0) bits--;
        bl_count[bits]--;
        bl_count[bits + 1] += 2;
        bl_count[max_length]--;
        overflow -= 2;
    } while (overflow > 0);
    for (bits = max_length; bits != 0; bits--) {
        n = bl_count[bits];
        while (n != 0) {
            m = order[--h];
            if (m > max_code) continue;
            if (t->len[m] != (unsigned)bits) {
                k->opt_len += ((uint64_t)bits - t->len[m]) * t->freq[m];
                t->len[m] = (uint16_t)bits;
            }
            n--;
        }
    }
    return max_code;
}

/* Counts the bit-length symbols that describe t's code lengths (run-length coded as deflate does). */
static void scan_tree(Kernel *k, Tree *t, int max_code) {
    uint16_t *blf = k->bt.freq;
    int n, prevlen = -1, curlen, nextlen = t->len[0], count = 0, max_count = 7, min_count = 4;
    if (nextlen == 0) max_count = 138, min_count = 3;
    t->len[max_code + 1] = 0xffff; /* guard */
    for (n = 0; n <= max_code; n++) {
        curlen = nextlen;
        nextlen = t->len[n + 1];
        if (++count < max_count && curlen == nextlen) continue;
        if (count < min_count) {
            blf[curlen] = (uint16_t)(blf[curlen] + count);
        } else if (curlen != 0) {
            if (curlen != prevlen) blf[curlen]++;
            blf[16]++;
        } else if (count <= 10) {
            blf[17]++;
        } else {
            blf[18]++;
        }
        count = 0;
        prevlen = curlen;
        if (nextlen == 0) {
            max_count = 138, min_count = 3;
        } else if (curlen == nextlen) {
            max_count = 6, min_count = 3;
        } else {
            max_count = 7, min_count = 4;
        }
    }
}

/* Closes the current block: adds its size in bits, as _tr_flush_block would choose it. */
static void flush_block(Kernel *k, State *st, int last) {
    unsigned long stored_len = (unsigned long)((long)st->strstart - st->block_start);
    int have_buf = st->block_start >= 0;
    k->opt_len = k->static_len = 0;
    memcpy(k->lt.freq, st->lfreq, sizeof st->lfreq);
    memcpy(k->dt.freq, st->dfreq, sizeof st->dfreq);
    int lmax = build_tree(k, &k->lt, L_CODES, STATIC_LLEN, EXTRA_LBITS, 257, MAX_BITS);
    int dmax = build_tree(k, &k->dt, D_CODES, STATIC_DLEN, EXTRA_DBITS, 0, MAX_BITS);
    memset(k->bt.freq, 0, sizeof(uint16_t) * BL_CODES);
    scan_tree(k, &k->lt, lmax);
    scan_tree(k, &k->dt, dmax);
    build_tree(k, &k->bt, BL_CODES, NULL, EXTRA_BLBITS, 0, MAX_BL_BITS);
    int max_blindex;
    for (max_blindex = BL_CODES - 1; max_blindex >= 3; max_blindex--)
        if (k->bt.len[BL_ORDER[max_blindex]] != 0) break;
    k->opt_len += 3 * ((uint64_t)max_blindex + 1) + 5 + 5 + 4;

    uint64_t opt_lenb = (k->opt_len + 3 + 7) >> 3;
    uint64_t static_lenb = (k->static_len + 3 + 7) >> 3;
    if (static_lenb <= opt_lenb) opt_lenb = static_lenb;
    if (stored_len + 4 <= opt_lenb && have_buf) {
        st->bits = ((st->bits + 3 + 7) & ~(uint64_t)7) + 32 + 8 * (uint64_t)stored_len;
    } else if (static_lenb == opt_lenb) {
        st->bits += 3 + k->static_len;
    } else {
        st->bits += 3 + k->opt_len;
    }
    memset(st->lfreq, 0, sizeof st->lfreq);
    memset(st->dfreq, 0, sizeof st->dfreq);
    st->lfreq[END_BLOCK] = 1;
    st->syms = 0;
    st->block_start = st->strstart;
    (void)last;
}

/* ---------- LZ77 matching (what deflate.c decides) ---------- */

static inline unsigned insert_string(Kernel *k, const uint8_t *w, unsigned pos) {
    unsigned h = (((unsigned)w[pos] << 10) ^ ((unsigned)w[pos + 1] << 5) ^ w[pos + 2]) & HASH_MASK;
    unsigned head = k->head[h];
    uint16_t *pslot = &k->prev[pos & WMASK];
    switch (k->mode) {
    case LOG_X:
        k->touched[k->touched_len++] = h;
        break;
    case LOG_HEAD_PREV:
        /* past WSIZE a target's prev slot can be one that x wrote and later targets still read */
        k->plog[k->plen++] = (pos & WMASK) | ((uint32_t)*pslot << 16);
        /* fall through */
    case LOG_HEAD:
        k->hlog[k->hlen++] = h | ((uint32_t)head << 16);
        break;
    default:
        break;
    }
    *pslot = (uint16_t)head;
    k->head[h] = (uint16_t)pos;
    return head;
}

/* zlib's longest_match: returns the length | match start << 16 (the start is unchanged if nothing longer). */
static uint32_t longest_match(const Kernel *k, const uint8_t *w, unsigned strstart, unsigned prev_length,
                              unsigned match_start, unsigned cur_match, unsigned lookahead) {
    unsigned chain_length = (unsigned)k->cfg.chain;
    const uint8_t *scan = w + strstart;
    const uint8_t *match;
    int len;
    int best_len = (int)prev_length;
    int nice_match = k->cfg.nice;
    unsigned limit = strstart > MAX_DIST ? strstart - MAX_DIST : 0;
    const uint16_t *prev = k->prev;
    const uint8_t *strend = w + strstart + MAX_MATCH;
    uint8_t scan_end1 = scan[best_len - 1];
    uint8_t scan_end = scan[best_len];

    if (prev_length >= (unsigned)k->cfg.good) chain_length >>= 2;
    if ((unsigned)nice_match > lookahead) nice_match = (int)lookahead;
    do {
        match = w + cur_match;
        if (match[best_len] != scan_end || match[best_len - 1] != scan_end1 || *match != *scan ||
            *++match != scan[1])
            continue;
        scan += 2, match++;
        do {
        } while (*++scan == *++match && *++scan == *++match && *++scan == *++match && *++scan == *++match &&
                 *++scan == *++match && *++scan == *++match && *++scan == *++match && *++scan == *++match &&
                 scan < strend);
        len = MAX_MATCH - (int)(strend - scan);
        scan = strend - MAX_MATCH;
        if (len > best_len) {
            match_start = cur_match;
            best_len = len;
            if (len >= nice_match) break;
            scan_end1 = scan[best_len - 1];
            scan_end = scan[best_len];
        }
    } while ((cur_match = prev[cur_match & WMASK]) > limit && --chain_length != 0);
    if ((unsigned)best_len > lookahead) best_len = (int)lookahead;
    return (uint32_t)best_len | (uint32_t)match_start << 16;
}

static void slide(Kernel *k, State *st) {
    if ((k->mode == LOG_HEAD || k->mode == LOG_HEAD_PREV) && !k->backed_up) {
        /* a target long enough to slide the window: keep the whole tables once instead of logging */
        memcpy(k->backup, k->head, sizeof k->head);
        memcpy(k->backup + HASH_SIZE, k->prev, sizeof k->prev);
        k->backed_up = 1;
        k->mode = LOG_NONE;
    }
    st->base += WSIZE;
    st->match_start -= WSIZE;
    st->strstart -= WSIZE;
    st->block_start -= (long)WSIZE;
    for (unsigned n = 0; n < HASH_SIZE; n++) {
        unsigned m = k->head[n];
        k->head[n] = (uint16_t)(m >= WSIZE ? m - WSIZE : 0);
    }
    for (unsigned n = 0; n < WSIZE; n++) {
        unsigned m = k->prev[n];
        k->prev[n] = (uint16_t)(m >= WSIZE ? m - WSIZE : 0);
    }
}

static inline void tally_dist(State *st, unsigned dist, unsigned lc) {
    st->lfreq[LENGTH_CODE[lc] + 257]++;
    st->dfreq[d_code(dist - 1)]++;
}

/* The matcher's scalars, held in locals while it runs (State's frequencies stay in memory). */
typedef struct {
    unsigned s, match_length, prev_length, prev_match, match_start, match_available, syms;
} Vars;

static inline void save_vars(State *st, const Vars *v) {
    st->strstart = v->s;
    st->match_length = v->match_length;
    st->prev_length = v->prev_length;
    st->prev_match = v->prev_match;
    st->match_start = v->match_start;
    st->match_available = (int)v->match_available;
    st->syms = v->syms;
}

static inline void load_vars(const State *st, Vars *v) {
    v->s = st->strstart;
    v->match_length = st->match_length;
    v->prev_length = st->prev_length;
    v->prev_match = st->prev_match;
    v->match_start = st->match_start;
    v->match_available = (unsigned)st->match_available;
    v->syms = st->syms;
}

static inline void maybe_flush(Kernel *k, State *st, Vars *v) {
    if (v->syms == SYM_LIMIT) {
        save_vars(st, v);
        flush_block(k, st, 0);
        v->syms = 0;
    }
}

/* One iteration of deflate_fast or deflate_slow at v->s with `lookahead` bytes ahead (>= 1). */
static inline __attribute__((always_inline)) void step(Kernel *k, State *st, Vars *v, const uint8_t *w,
                                                       unsigned lookahead, int slow) {
    unsigned hash_head = 0;
    unsigned s = v->s;
    const unsigned lazy = (unsigned)k->cfg.lazy;
    if (lookahead >= MIN_MATCH) hash_head = insert_string(k, w, s);
    if (!slow) {
        if (hash_head != 0 && s - hash_head <= MAX_DIST) {
            uint32_t r = longest_match(k, w, s, MIN_MATCH - 1, v->match_start, hash_head, lookahead);
            v->match_length = r & 0xffff;
            v->match_start = r >> 16;
        }
        if (v->match_length >= MIN_MATCH) {
            unsigned ml = v->match_length;
            tally_dist(st, s - v->match_start, ml - MIN_MATCH);
            v->syms++;
            if (ml <= lazy && lookahead - ml >= MIN_MATCH) {
                for (unsigned i = 1; i < ml; i++) insert_string(k, w, s + i);
            }
            v->s = s + ml;
            v->match_length = 0;
        } else {
            st->lfreq[w[s]]++;
            v->syms++;
            v->s = s + 1;
        }
        maybe_flush(k, st, v);
    } else {
        v->prev_length = v->match_length, v->prev_match = v->match_start;
        v->match_length = MIN_MATCH - 1;
        if (hash_head != 0 && v->prev_length < lazy && s - hash_head <= MAX_DIST) {
            uint32_t r = longest_match(k, w, s, v->prev_length, v->match_start, hash_head, lookahead);
            v->match_length = r & 0xffff;
            v->match_start = r >> 16;
            if (v->match_length <= 5 && v->match_length == MIN_MATCH && s - v->match_start > TOO_FAR)
                v->match_length = MIN_MATCH - 1;
        }
        if (v->prev_length >= MIN_MATCH && v->match_length <= v->prev_length) {
            unsigned max_insert = s + lookahead - MIN_MATCH;
            tally_dist(st, s - 1 - v->prev_match, v->prev_length - MIN_MATCH);
            v->syms++;
            unsigned end = s + v->prev_length - 1; /* strstart after the match */
            unsigned last = end - 1 < max_insert ? end - 1 : max_insert;
            for (unsigned p = s + 1; p <= last; p++) insert_string(k, w, p);
            v->prev_length = 0;
            v->match_available = 0;
            v->match_length = MIN_MATCH - 1;
            v->s = end;
            maybe_flush(k, st, v);
        } else if (v->match_available) {
            st->lfreq[w[s - 1]]++;
            v->syms++;
            maybe_flush(k, st, v); /* zlib flushes before moving past s */
            v->s = s + 1;
        } else {
            v->match_available = 1;
            v->s = s + 1;
        }
    }
}

/* Runs the matcher over buf[0..total). With pause >= 0 it stops before the first step whose outcome
 * could depend on bytes at or after `pause`; otherwise it finishes the stream. */
static inline __attribute__((always_inline)) void run_level(Kernel *k, State *st, long total, long pause,
                                                            int slow) {
    const uint8_t *buf = k->buf;
    Vars v;
    load_vars(st, &v);
    for (;;) {
        long avail = total - st->base;
        long wend = avail < (long)WINDOW_SIZE ? avail : (long)WINDOW_SIZE;
        const uint8_t *w = buf + st->base;
        /* while s <= safe, at least MIN_LOOKAHEAD bytes are ahead: no clipping, no window to fill */
        long safe = wend - MIN_LOOKAHEAD;
        if (pause >= 0 && pause - st->base - MIN_LOOKAHEAD < safe) safe = pause - st->base - MIN_LOOKAHEAD;
        while ((long)v.s <= safe) step(k, st, &v, w, (unsigned)(wend - (long)v.s), slow);
        if (pause >= 0 && st->base + (long)v.s + MIN_LOOKAHEAD > pause) break;
        unsigned lookahead = (unsigned)(wend - (long)v.s);
        if (lookahead < MIN_LOOKAHEAD) {
            if (v.s >= WSIZE + MAX_DIST) {
                save_vars(st, &v);
                slide(k, st);
                load_vars(st, &v);
                continue;
            }
            if (lookahead == 0) {
                if (slow && v.match_available) {
                    st->lfreq[w[v.s - 1]]++;
                    v.syms++;
                    v.match_available = 0;
                }
                save_vars(st, &v);
                flush_block(k, st, 1);
                return;
            }
        }
        step(k, st, &v, w, lookahead, slow);
    }
    save_vars(st, &v);
}

static void run(Kernel *k, State *st, long total, long pause) {
    if (k->cfg.slow)
        run_level(k, st, total, pause, 1);
    else
        run_level(k, st, total, pause, 0);
}

/* ---------- The tail of x: steps that no target can change ----------
 *
 * x's matching pauses MIN_LOOKAHEAD bytes before its end because a step there may read bytes of y.
 * Most of those steps do not: a step depends on y only if a match comparison reaches x's end, or if
 * how many positions it hashes depends on how much input follows. The steps below run on x alone and
 * stop (undoing the step) at the first one that would read past x or whose outcome the amount of
 * input could change; everything before that is shared by all targets. */

#define TAINTED UINT32_MAX

/* longest_match on x alone, `avail` bytes of x ahead; TAINTED where a comparison would read past x. */
static uint32_t longest_match_x(const Kernel *k, const uint8_t *w, unsigned strstart, unsigned prev_length,
                                unsigned match_start, unsigned cur_match, unsigned avail) {
    unsigned chain_length = (unsigned)k->cfg.chain;
    const uint8_t *scan = w + strstart;
    const uint8_t *match;
    int len;
    int best_len = (int)prev_length;
    /* with every comparison inside x, clipping nice_match to x's bytes ends the search exactly when
     * clipping it to the whole input would */
    int nice_match = (unsigned)k->cfg.nice > avail ? (int)avail : k->cfg.nice;
    unsigned limit = strstart > MAX_DIST ? strstart - MAX_DIST : 0;
    const uint16_t *prev = k->prev;
    const uint8_t *strend = w + strstart + MAX_MATCH;
    if ((unsigned)best_len >= avail) return TAINTED; /* the quick test reads scan[best_len] */
    uint8_t scan_end1 = scan[best_len - 1];
    uint8_t scan_end = scan[best_len];

    if (prev_length >= (unsigned)k->cfg.good) chain_length >>= 2;
    do {
        match = w + cur_match;
        if (match[best_len] != scan_end || match[best_len - 1] != scan_end1 || *match != *scan ||
            *++match != scan[1])
            continue;
        scan += 2, match++;
        do {
        } while (*++scan == *++match && *++scan == *++match && *++scan == *++match && *++scan == *++match &&
                 *++scan == *++match && *++scan == *++match && *++scan == *++match && *++scan == *++match &&
                 scan < strend);
        len = MAX_MATCH - (int)(strend - scan);
        scan = strend - MAX_MATCH;
        if ((unsigned)len >= avail) return TAINTED; /* it compared x's last byte with the next one */
        if (len > best_len) {
            match_start = cur_match;
            best_len = len;
            if (len >= nice_match) break;
            scan_end1 = scan[best_len - 1];
            scan_end = scan[best_len];
        }
    } while ((cur_match = prev[cur_match & WMASK]) > limit && --chain_length != 0);
    return (uint32_t)best_len | (uint32_t)match_start << 16;
}

static void extend_tail(Kernel *k, State *st, long nx) {
    const uint8_t *w = k->buf + st->base;
    const unsigned lazy = (unsigned)k->cfg.lazy;
    const int slow = k->cfg.slow;
    long end_rel = nx - st->base;
    if (end_rel > (long)WINDOW_SIZE) return; /* x does not fit the window: no shared tail */
    Vars v;
    load_vars(st, &v);
    /* below WSIZE + MAX_DIST no slide can happen, whatever the input's length */
    while (v.s < WSIZE + MAX_DIST && (long)v.s + MIN_MATCH <= end_rel) {
        unsigned s = v.s, avail = (unsigned)(end_rel - (long)s);
        unsigned h = (((unsigned)w[s] << 10) ^ ((unsigned)w[s + 1] << 5) ^ w[s + 2]) & HASH_MASK;
        uint16_t *pslot = &k->prev[s & WMASK];
        uint16_t old_prev = *pslot;
        unsigned hash_head = insert_string(k, w, s);
        Vars n = v;
        int tainted = 0;
        if (!slow) {
            if (hash_head != 0 && s - hash_head <= MAX_DIST) {
                uint32_t r = longest_match_x(k, w, s, MIN_MATCH - 1, n.match_start, hash_head, avail);
                if (r == TAINTED) {
                    tainted = 1;
                } else {
                    n.match_length = r & 0xffff;
                    n.match_start = r >> 16;
                }
            }
            /* whether the positions inside a match are hashed depends on the input after it */
            if (!tainted && n.match_length >= MIN_MATCH && n.match_length <= lazy && avail - n.match_length < MIN_MATCH)
                tainted = 1;
        } else {
            n.prev_length = n.match_length, n.prev_match = n.match_start;
            n.match_length = MIN_MATCH - 1;
            if (hash_head != 0 && n.prev_length < lazy && s - hash_head <= MAX_DIST) {
                uint32_t r = longest_match_x(k, w, s, n.prev_length, n.match_start, hash_head, avail);
                if (r == TAINTED) {
                    tainted = 1;
                } else {
                    n.match_length = r & 0xffff;
                    n.match_start = r >> 16;
                    if (n.match_length == MIN_MATCH && s - n.match_start > TOO_FAR) n.match_length = MIN_MATCH - 1;
                }
            }
            if (!tainted && n.prev_length >= MIN_MATCH && n.match_length <= n.prev_length &&
                s + n.prev_length - 2 > s + avail - MIN_MATCH)
                tainted = 1;
        }
        if (tainted) { /* undo this step's hash insertion: the targets will take it from here */
            k->head[h] = (uint16_t)hash_head;
            *pslot = old_prev;
            k->touched_len--;
            break;
        }
        /* the step's outcome is the one every target would reach: take it */
        v.s = s;
        v.match_available = n.match_available;
        if (!slow) {
            v.match_length = n.match_length;
            v.match_start = n.match_start;
            if (v.match_length >= MIN_MATCH) {
                unsigned ml = v.match_length;
                tally_dist(st, s - v.match_start, ml - MIN_MATCH);
                v.syms++;
                if (ml <= lazy) /* avail - ml >= MIN_MATCH was checked */
                    for (unsigned i = 1; i < ml; i++) insert_string(k, w, s + i);
                v.s = s + ml;
                v.match_length = 0;
            } else {
                st->lfreq[w[s]]++;
                v.syms++;
                v.s = s + 1;
            }
            maybe_flush(k, st, &v);
        } else {
            v.prev_length = n.prev_length, v.prev_match = n.prev_match;
            v.match_length = n.match_length, v.match_start = n.match_start;
            if (v.prev_length >= MIN_MATCH && v.match_length <= v.prev_length) {
                tally_dist(st, s - 1 - v.prev_match, v.prev_length - MIN_MATCH);
                v.syms++;
                unsigned end = s + v.prev_length - 1;
                for (unsigned p = s + 1; p < end; p++) insert_string(k, w, p);
                v.prev_length = 0;
                v.match_available = 0;
                v.match_length = MIN_MATCH - 1;
                v.s = end;
                maybe_flush(k, st, &v);
            } else if (v.match_available) {
                st->lfreq[w[s - 1]]++;
                v.syms++;
                maybe_flush(k, st, &v);
                v.s = s + 1;
            } else {
                v.match_available = 1;
                v.s = s + 1;
            }
        }
    }
    save_vars(st, &v);
}

static uint64_t finish_bytes(const State *st) { return (st->bits + 7) >> 3; }

/* ---------- Python type ---------- */

static int ensure_buf(Kernel *k, size_t need) {
    if (need <= k->buf_cap) return 0;
    uint8_t *b = (uint8_t *)PyMem_RawRealloc(k->buf, need);
    if (!b) return -1;
    k->buf = b;
    k->buf_cap = need;
    return 0;
}

static void init_state(State *st) {
    memset(st, 0, sizeof *st);
    st->match_length = st->prev_length = MIN_MATCH - 1;
    st->lfreq[END_BLOCK] = 1;
}

static void rollback(Kernel *k) {
    if (k->backed_up) {
        memcpy(k->head, k->backup, sizeof k->head);
        memcpy(k->prev, k->backup + HASH_SIZE, sizeof k->prev);
        k->backed_up = 0;
    }
    for (size_t i = k->hlen; i-- > 0;) k->head[k->hlog[i] & 0xffff] = (uint16_t)(k->hlog[i] >> 16);
    for (size_t i = k->plen; i-- > 0;) k->prev[k->plog[i] & 0xffff] = (uint16_t)(k->plog[i] >> 16);
    k->hlen = k->plen = 0;
}

static void clear_head(Kernel *k) {
    for (size_t i = 0; i < k->touched_len; i++) k->head[k->touched[i]] = 0;
    k->touched_len = 0;
}

static int reserve(uint32_t **a, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    uint32_t *p = (uint32_t *)PyMem_RawRealloc(*a, need * sizeof(uint32_t));
    if (!p) return -1;
    *a = p;
    *cap = need;
    return 0;
}

/* Lengths for x against every target (all gzip lengths, overhead included); 0 on success. */
static int compute(Kernel *k, const uint8_t *x, size_t nx, const uint8_t **ys, const size_t *nys, Py_ssize_t ny,
                   uint64_t *cx, uint64_t *out) {
    if (ensure_buf(k, nx + (size_t)k->longest + PAD) < 0) return -1;
    /* every inserted position is logged at most once */
    size_t tcap = k->touched_cap, lcap = k->log_cap;
    if (reserve(&k->touched, &tcap, nx + 16) < 0) return -1;
    k->touched_cap = tcap;
    if (reserve(&k->hlog, &lcap, MIN_LOOKAHEAD + (size_t)k->longest + 16) < 0) return -1;
    if (reserve(&k->plog, &k->log_cap, lcap) < 0) return -1;
    memcpy(k->buf, x, nx);
    State base_state, st;
    init_state(&base_state);
    k->mode = LOG_X;
    run(k, &base_state, (long)nx, (long)nx);
    extend_tail(k, &base_state, (long)nx);
    for (Py_ssize_t j = -1; j < ny; j++) {
        size_t m = j < 0 ? 0 : nys[j];
        if (m) memcpy(k->buf + nx, ys[j], m);
        memset(k->buf + nx + m, 0, PAD);
        k->mode = nx + m > WSIZE ? LOG_HEAD_PREV : LOG_HEAD;
        st = base_state;
        run(k, &st, (long)(nx + m), -1);
        uint64_t len = finish_bytes(&st) + GZIP_OVERHEAD;
        if (j < 0)
            *cx = len;
        else
            out[j] = len;
        rollback(k);
    }
    clear_head(k);
    return 0;
}

static void Kernel_dealloc(Kernel *k) {
    for (Py_ssize_t i = 0; i < k->n_targets; i++) Py_XDECREF(k->targets[i]);
    PyMem_Free(k->targets);
    PyMem_RawFree(k->buf);
    PyMem_RawFree(k->backup);
    PyMem_RawFree(k->hlog);
    PyMem_RawFree(k->plog);
    PyMem_RawFree(k->touched);
    Py_TYPE(k)->tp_free((PyObject *)k);
}

static int Kernel_init(Kernel *k, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"targets", "level", NULL};
    PyObject *seq;
    int level;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Oi", kwlist, &seq, &level)) return -1;
    if (k->busy) {
        PyErr_SetString(PyExc_RuntimeError, "this PairKernel is computing in another thread");
        return -1;
    }
    if (level < 1 || level > 9) {
        PyErr_Format(PyExc_ValueError, "level must be between 1 and 9, got %d", level);
        return -1;
    }
    PyObject *fast = PySequence_Fast(seq, "targets must be a sequence of bytes");
    if (!fast) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    PyObject **targets = PyMem_Calloc(n ? (size_t)n : 1, sizeof(PyObject *));
    if (!targets) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t longest = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyBytes_Check(items[i])) {
            for (Py_ssize_t j = 0; j < i; j++) Py_DECREF(targets[j]);
            PyMem_Free(targets);
            Py_DECREF(fast);
            PyErr_SetString(PyExc_TypeError, "targets must be bytes");
            return -1;
        }
        Py_INCREF(items[i]);
        targets[i] = items[i];
        if (PyBytes_GET_SIZE(items[i]) > longest) longest = PyBytes_GET_SIZE(items[i]);
    }
    Py_DECREF(fast);
    for (Py_ssize_t i = 0; i < k->n_targets; i++) Py_XDECREF(k->targets[i]);
    PyMem_Free(k->targets);
    k->targets = targets;
    k->n_targets = n;
    k->longest = longest;
    k->level = level;
    k->cfg = CONFIG[level];
    if (!k->backup) {
        k->backup = (uint16_t *)PyMem_RawMalloc((HASH_SIZE + WSIZE) * sizeof(uint16_t));
        if (!k->backup) {
            PyErr_NoMemory();
            return -1;
        }
    }
    memset(k->head, 0, sizeof k->head);
    k->touched_len = 0;
    return 0;
}

static PyObject *Kernel_lengths(Kernel *k, PyObject *arg) {
    Py_buffer view;
    if (k->busy) { /* the GIL is released while it runs: one kernel serves one thread at a time */
        PyErr_SetString(PyExc_RuntimeError, "this PairKernel is computing in another thread; use one per thread");
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Py_ssize_t n = k->n_targets;
    const uint8_t **ys = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(uint8_t *));
    size_t *nys = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(size_t));
    uint64_t *out = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(uint64_t));
    PyObject *result = NULL;
    if (!ys || !nys || !out) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        ys[j] = (const uint8_t *)PyBytes_AS_STRING(k->targets[j]);
        nys[j] = (size_t)PyBytes_GET_SIZE(k->targets[j]);
    }
    uint64_t cx = 0;
    int rc;
    k->busy = 1;
    Py_BEGIN_ALLOW_THREADS rc = compute(k, (const uint8_t *)view.buf, (size_t)view.len, ys, nys, n, &cx, out);
    Py_END_ALLOW_THREADS k->busy = 0;
    if (rc < 0) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *list = PyList_New(n);
    if (!list) goto done;
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *v = PyLong_FromUnsignedLongLong(out[j]);
        if (!v) {
            Py_DECREF(list);
            goto done;
        }
        PyList_SET_ITEM(list, j, v);
    }
    result = Py_BuildValue("(KN)", (unsigned long long)cx, list);
done:
    PyMem_Free(ys);
    PyMem_Free(nys);
    PyMem_Free(out);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef Kernel_methods[] = {
    {"lengths", (PyCFunction)Kernel_lengths, METH_O,
     "lengths(x) -> (C(x), [C(x + y_j) for each target]): gzip lengths, header and trailer included."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "zipfit._native.PairKernel",
    .tp_basicsize = sizeof(Kernel),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "PairKernel(targets, level): exact gzip lengths of x and x + y_j without compressing.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Kernel_init,
    .tp_dealloc = (destructor)Kernel_dealloc,
    .tp_methods = Kernel_methods,
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "zipfit._native", "Compiled exact gzip pair lengths for ZIP-FIT.", -1, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    init_tables();
    if (PyType_Ready(&KernelType) < 0) return NULL;
    PyObject *m = PyModule_Create(&native_module);
    if (!m) return NULL;
    Py_INCREF(&KernelType);
    if (PyModule_AddObject(m, "PairKernel", (PyObject *)&KernelType) < 0) {
        Py_DECREF(&KernelType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
