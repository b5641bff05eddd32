/* Optional compiled kernels of the dedup stage: the same results as the numpy code of
 * pipeline/dedup/index.py and pipeline/dedup/core.py (`_Shared`), computed in one pass over plain C arrays
 * instead of a dozen numpy operations a chunk, each a pass over temporary arrays.
 *
 * The Python code is the reference: each function here names the Python function it replaces, and
 * tests/unit/test_native.py checks that both give the same arrays on the eval sets' texts and on random ones.
 * When this module is not built (no C compiler at install time) or NEWSWATCH_PURE_PYTHON=1 is set, the Python
 * code runs instead. Arrays come in as buffers (numpy arrays, bytes) and go out as bytes, which the Python side
 * views with numpy.frombuffer: no numpy headers are needed to build this.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t u64;

#define WAYS 8
#define REF_BITS 48
#define REF_MASK ((((u64)1) << REF_BITS) - 1)
#define P 0x100000001B3ULL
#define AHEAD 16 /* keys ahead whose table bucket is fetched into the cache (a miss takes ~100 ns) */

/* index._mix */
static inline u64 mix(u64 a, u64 b, u64 salt) {
    u64 x = a * 0x9E3779B97F4A7C15ULL + b * 0xC2B2AE3D27D4EB4FULL + salt;
    x ^= x >> 29;
    return x * 0xBF58476D1CE4E5B9ULL;
}

/* A new bytes object of `size` bytes, its contents left to fill. */
static PyObject *new_bytes(Py_ssize_t size, void **data) {
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out != NULL) *data = PyBytes_AS_STRING(out);
    return out;
}

/* Get a C-contiguous buffer holding items of `itemsize` bytes; its length in items is set in *n. */
static int get_array(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, int writable, Py_ssize_t *n,
                     const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0) return -1;
    if (view->len % itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes is not a whole number of %zd-byte items", what, view->len,
                     itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    *n = view->len / itemsize;
    return 0;
}

/* `count` arrays as get_array takes them (objs[i] into views[i], items of sizes[i] bytes, writable where
 * writable[i], named names[i]; lengths in items into n[i]): all of them, or on failure none held. */
static int get_arrays(int count, PyObject *const objs[], const Py_ssize_t sizes[], const int writable[],
                      const char *const names[], Py_buffer views[], Py_ssize_t n[]) {
    for (int i = 0; i < count; i++) {
        if (get_array(objs[i], &views[i], sizes[i], writable[i], &n[i], names[i]) < 0) {
            while (i--) PyBuffer_Release(&views[i]);
            return -1;
        }
    }
    return 0;
}

static void release_arrays(int count, Py_buffer views[]) {
    for (int i = 0; i < count; i++) PyBuffer_Release(&views[i]);
}

/* get_arrays of two arrays (a and b, items of size_a and size_b bytes, writable or not, named name_a and name_b). */
static int get_two(PyObject *a, PyObject *b, Py_ssize_t size_a, Py_ssize_t size_b, int writable_a, int writable_b,
                   const char *name_a, const char *name_b, Py_buffer views[2], Py_ssize_t n[2]) {
    PyObject *const objs[2] = {a, b};
    const Py_ssize_t sizes[2] = {size_a, size_b};
    const int writable[2] = {writable_a, writable_b};
    const char *const names[2] = {name_a, name_b};
    return get_arrays(2, objs, sizes, writable, names, views, n);
}

/* The three arrays of one length that keys_of and shared_pairs take (64-bit hashes or keys, the story of each as
 * int64, whether each is a headline's as bool), held in views; their length in *m. On failure none is held. */
static int get_story_arrays(PyObject *a, PyObject *b, PyObject *c, Py_buffer views[3], Py_ssize_t *m) {
    PyObject *const objs[3] = {a, b, c};
    const Py_ssize_t sizes[3] = {8, 8, 1};
    const int writable[3] = {0, 0, 0};
    const char *const names[3] = {"keys", "story", "title"};
    Py_ssize_t n[3];
    if (get_arrays(3, objs, sizes, writable, names, views, n) < 0) return -1;
    if (n[1] != n[0] || n[2] != n[0]) {
        PyErr_SetString(PyExc_ValueError, "keys, story and title must be of one length");
        release_arrays(3, views);
        return -1;
    }
    *m = n[0];
    return 0;
}

/* index._word_spans on the joined bytes (texts ended by "\n", words by any byte <= 32):
 * word_spans(data, lead_span) -> (hash u64, story int64, title bool, start int64, end int64) of each word kept
 * (every headline word, the first `lead_span` words of a lead), as bytes. */
static PyObject *word_spans(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t lead_span;
    if (!PyArg_ParseTuple(args, "y*n", &data, &lead_span)) return NULL;
    const unsigned char *b = data.buf;
    Py_ssize_t len = data.len, words = 0;
    for (Py_ssize_t i = 0; i < len; i++) words += b[i] <= 32;
    void *p[5] = {NULL, NULL, NULL, NULL, NULL};
    PyObject *out[5] = {new_bytes(words * 8, &p[0]), new_bytes(words * 8, &p[1]), new_bytes(words, &p[2]),
                        new_bytes(words * 8, &p[3]), new_bytes(words * 8, &p[4])};
    PyObject *result = NULL;
    for (int k = 0; k < 5; k++)
        if (out[k] == NULL) goto done;
    u64 *hash = p[0];
    int64_t *story = p[1], *start_at = p[3], *end_at = p[4];
    unsigned char *title = p[2];
    Py_ssize_t kept = 0, segment = 0, rank = 0, start = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = b[i];
        if (c > 32) continue;
        if (i > start) {  /* a word: b[start:i] */
            int in_title = (segment & 1) == 0;
            if (in_title || rank < lead_span) {
                u64 h = 0;  /* sum of (byte + 1) * P**(i - start), by Horner's rule from the end */
                for (Py_ssize_t j = i - 1; j >= start; j--) h = h * P + (u64)b[j] + 1;
                h ^= h >> 31;
                h *= 0xBF58476D1CE4E5B9ULL;
                h ^= h >> 29;
                hash[kept] = h ? h : 1;
                story[kept] = segment >> 1;
                title[kept] = (unsigned char)in_title;
                start_at[kept] = start;
                end_at[kept] = i;
                kept++;
            }
            rank++;
        }
        if (c == 10) {
            segment++;
            rank = 0;
        }
        start = i + 1;
    }
    Py_END_ALLOW_THREADS
    for (int k = 0; k < 5; k++) {
        Py_ssize_t size = k == 2 ? kept : kept * 8;
        if (_PyBytes_Resize(&out[k], size) < 0) goto done;
    }
    result = Py_BuildValue("(NNNNN)", out[0], out[1], out[2], out[3], out[4]);
    for (int k = 0; k < 5; k++) out[k] = NULL;  /* the tuple owns them (or they are gone with it) */
done:
    for (int k = 0; k < 5; k++) Py_XDECREF(out[k]);
    PyBuffer_Release(&data);
    return result;
}

/* index._Stems.get: stem_lookup(raw, keys, values, mask) -> (stem hash u64, known bool) of each word hash, from
 * the open-addressing table (keys, values), linear probing. */
static PyObject *stem_lookup(PyObject *self, PyObject *args) {
    PyObject *raw_o, *keys_o, *values_o;
    unsigned long long mask;
    if (!PyArg_ParseTuple(args, "OOOK", &raw_o, &keys_o, &values_o, &mask)) return NULL;
    PyObject *const objs[3] = {raw_o, keys_o, values_o};
    const Py_ssize_t sizes[3] = {8, 8, 8};
    const int writable[3] = {0, 0, 0};
    const char *const names[3] = {"raw", "keys", "values"};
    Py_buffer v[3];
    Py_ssize_t len[3];
    if (get_arrays(3, objs, sizes, writable, names, v, len) < 0) return NULL;
    Py_ssize_t n = len[0], nk = len[1], nv = len[2];
    PyObject *result = NULL, *hashes = NULL, *known = NULL;
    if (nk != nv || (u64)nk != mask + 1) {
        PyErr_SetString(PyExc_ValueError, "keys and values must both have mask + 1 slots");
        goto done;
    }
    void *ph = NULL, *pk = NULL;
    hashes = new_bytes(n * 8, &ph);
    known = new_bytes(n, &pk);
    if (hashes == NULL || known == NULL) goto done;
    const u64 *r = v[0].buf, *tk = v[1].buf, *tv = v[2].buf;
    u64 *h = ph;
    unsigned char *kn = pk;
    for (Py_ssize_t i = 0; i < n; i++) {
        u64 at = r[i] & mask, value = 0;
        unsigned char hit = 0;
        for (;;) {
            u64 stored = tk[at];
            if (stored == r[i]) {
                value = tv[at];
                hit = 1;
                break;
            }
            if (stored == 0) break;
            at = (at + 1) & mask;
        }
        h[i] = value;
        kn[i] = hit;
    }
    result = Py_BuildValue("(OO)", hashes, known);
done:
    Py_XDECREF(hashes);
    Py_XDECREF(known);
    release_arrays(3, v);
    return result;
}

static int cmp_u64(const void *a, const void *b) {
    u64 x = *(const u64 *)a, y = *(const u64 *)b;
    return (x > y) - (x < y);
}

/* Sort a few values (insertion sort: a headline's words, a lead's sampled bigrams) and drop repeats; returns
 * how many are left. */
static Py_ssize_t sort_distinct(u64 *v, Py_ssize_t n) {
    if (n > 64) {
        qsort(v, (size_t)n, sizeof(u64), cmp_u64);
    } else {
        for (Py_ssize_t i = 1; i < n; i++) {
            u64 x = v[i];
            Py_ssize_t j = i;
            for (; j > 0 && v[j - 1] > x; j--) v[j] = v[j - 1];
            v[j] = x;
        }
    }
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (m == 0 || v[i] != v[m - 1]) v[m++] = v[i];
    return m;
}

/* The keys part of index.signatures, from the words' stem hashes (0: a stopword), their stories (sorted) and
 * whether each is a headline word: keys_of(hashes, story, title, n, title_words, sample) -> (keys u64,
 * owner int64, title bool), by story, each story's headline keys first (pairs of its `title_words` smallest
 * distinct word hashes, in the order of numpy.triu_indices, or the word itself when there is one), then its
 * sampled lead bigrams (1 in `sample` by value; distinct, in increasing order). */
static PyObject *keys_of(PyObject *self, PyObject *args) {
    PyObject *h_o, *s_o, *t_o;
    Py_ssize_t n, title_words, sample;
    if (!PyArg_ParseTuple(args, "OOOnnn", &h_o, &s_o, &t_o, &n, &title_words, &sample)) return NULL;
    if (title_words < 1 || sample < 1 || n < 0) {
        PyErr_SetString(PyExc_ValueError, "title_words and sample must be positive, n not negative");
        return NULL;
    }
    Py_buffer v[3];
    Py_ssize_t m;
    if (get_story_arrays(h_o, s_o, t_o, v, &m) < 0) return NULL;
    PyObject *result = NULL, *keys = NULL, *owner = NULL, *title = NULL;
    u64 *tmp = NULL;
    const u64 *h = v[0].buf;
    const int64_t *story = v[1].buf;
    const unsigned char *is_title = v[2].buf;
    Py_ssize_t pairs = title_words * (title_words - 1) / 2, cap = n * (pairs > 1 ? pairs : 1) + m;
    void *pk = NULL, *po = NULL, *pt = NULL;
    keys = new_bytes(cap * 8, &pk);
    owner = new_bytes(cap * 8, &po);
    title = new_bytes(cap, &pt);
    tmp = PyMem_Malloc((size_t)(m + 1) * sizeof(u64));
    if (keys == NULL || owner == NULL || title == NULL || tmp == NULL) {
        if (tmp == NULL) PyErr_NoMemory();
        goto done;
    }
    u64 *k = pk;
    int64_t *o = po;
    unsigned char *t = pt;
    Py_ssize_t out = 0, i = 0;
    for (int64_t s = 0; s < n; s++) {
        if (i < m && (story[i] < s || story[i] >= n)) {
            PyErr_SetString(PyExc_ValueError, "story numbers must be sorted and below n");
            goto done;
        }
        Py_ssize_t a = i;
        while (i < m && story[i] == s) i++;
        Py_ssize_t words = 0;  /* the headline's content words */
        for (Py_ssize_t j = a; j < i; j++)
            if (is_title[j] && h[j]) tmp[words++] = h[j];
        Py_ssize_t size = sort_distinct(tmp, words);
        if (size > title_words) size = title_words;
        if (size == 1) {
            k[out] = mix(tmp[0], 0, 1), o[out] = s, t[out] = 1;
            out++;
        } else {
            for (Py_ssize_t x = 0; x < size; x++)
                for (Py_ssize_t y = x + 1; y < size; y++) k[out] = mix(tmp[x], tmp[y], 2), o[out] = s, t[out] = 1, out++;
        }
        Py_ssize_t grams = 0;  /* bigrams of the lead's content words */
        u64 last = 0;
        for (Py_ssize_t j = a; j < i; j++) {
            if (is_title[j] || !h[j]) continue;
            if (last) {
                u64 g = mix(last, h[j], 3);
                if (g % (u64)sample == 0) tmp[grams++] = g;
            }
            last = h[j];
        }
        grams = sort_distinct(tmp, grams);
        for (Py_ssize_t j = 0; j < grams; j++) k[out] = tmp[j], o[out] = s, t[out] = 0, out++;
    }
    if (i != m) {
        PyErr_SetString(PyExc_ValueError, "story numbers must be sorted and below n");
        goto done;
    }
    if (_PyBytes_Resize(&keys, out * 8) < 0 || _PyBytes_Resize(&owner, out * 8) < 0 ||
        _PyBytes_Resize(&title, out) < 0)
        goto done;
    result = Py_BuildValue("(OOO)", keys, owner, title);
done:
    PyMem_Free(tmp);
    Py_XDECREF(keys);
    Py_XDECREF(owner);
    Py_XDECREF(title);
    release_arrays(3, v);
    return result;
}

/* KeyTable._split */
static inline void split(u64 key, u64 buckets, u64 *bucket, u64 *check) {
    *bucket = ((key & 0xFFFFFFFFULL) * buckets) >> 32;
    *check = key >> REF_BITS;
}

/* KeyTable.add_many: table_add(slots, next, refs, keys): each (ref, key) into its bucket's next way, in order. */
static PyObject *table_add(PyObject *self, PyObject *args) {
    PyObject *slots_o, *next_o, *refs_o, *keys_o;
    if (!PyArg_ParseTuple(args, "OOOO", &slots_o, &next_o, &refs_o, &keys_o)) return NULL;
    PyObject *const objs[4] = {slots_o, next_o, refs_o, keys_o};
    const Py_ssize_t sizes[4] = {8, 1, 8, 8};
    const int writable[4] = {1, 1, 0, 0};
    const char *const names[4] = {"slots", "next", "refs", "keys"};
    Py_buffer v[4];
    Py_ssize_t len[4];
    if (get_arrays(4, objs, sizes, writable, names, v, len) < 0) return NULL;
    Py_ssize_t ns = len[0], nn = len[1], nr = len[2], nk = len[3];
    PyObject *result = NULL;
    if (nr != nk || ns != nn * WAYS) {
        PyErr_SetString(PyExc_ValueError, "refs and keys must be of one length, slots WAYS times next's");
    } else {
        u64 *s = v[0].buf;
        unsigned char *nx = v[1].buf;
        const u64 *r = v[2].buf, *k = v[3].buf;
        for (Py_ssize_t i = 0; i < nk; i++) {
            u64 bucket, check;
            if (i + AHEAD < nk) {
                split(k[i + AHEAD], (u64)nn, &bucket, &check);
                __builtin_prefetch(s + bucket * WAYS, 1);
                __builtin_prefetch(nx + bucket, 1);
            }
            split(k[i], (u64)nn, &bucket, &check);
            /* (masked, as in numpy's version: a damaged saved table must not send a write out of its bucket) */
            s[bucket * WAYS + (nx[bucket] & (WAYS - 1))] = (check << REF_BITS) | (r[i] & REF_MASK);
            nx[bucket] = (unsigned char)((nx[bucket] + 1) & (WAYS - 1));
        }
        result = Py_NewRef(Py_None);
    }
    release_arrays(4, v);
    return result;
}

/* KeyTable.lookup_many: table_lookup(slots, keys) -> (index into keys int64, cluster reference u64) of every
 * stored entry under one of the keys, by key then way. */
static PyObject *table_lookup(PyObject *self, PyObject *args) {
    PyObject *slots_o, *keys_o;
    if (!PyArg_ParseTuple(args, "OO", &slots_o, &keys_o)) return NULL;
    Py_buffer v[2];
    Py_ssize_t len[2];
    if (get_two(slots_o, keys_o, 8, 8, 0, 0, "slots", "keys", v, len) < 0) return NULL;
    Py_ssize_t ns = len[0], nk = len[1];
    PyObject *result = NULL, *at = NULL, *refs = NULL;
    if (ns % WAYS || ns == 0) {
        PyErr_SetString(PyExc_ValueError, "slots must be a whole, non-zero number of buckets");
        goto done;
    }
    u64 buckets = (u64)(ns / WAYS);
    const u64 *s = v[0].buf, *k = v[1].buf;
    Py_ssize_t hits = 0, cap = nk;  /* most keys hit nothing: grown when needed */
    int64_t *pa = PyMem_Malloc((size_t)(cap + 1) * sizeof(int64_t));
    u64 *pr = PyMem_Malloc((size_t)(cap + 1) * sizeof(u64));
    if (pa == NULL || pr == NULL) {
        PyMem_Free(pa), PyMem_Free(pr);
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < nk; i++) {
        u64 bucket, check;
        if (i + AHEAD < nk) {  /* the bucket of a later key asked for now: the table is far bigger than the caches */
            split(k[i + AHEAD], buckets, &bucket, &check);
            __builtin_prefetch(s + bucket * WAYS);
        }
        split(k[i], buckets, &bucket, &check);
        const u64 *row = s + bucket * WAYS;
        for (int w = 0; w < WAYS; w++) {
            if ((row[w] >> REF_BITS) != check || !(row[w] & REF_MASK)) continue;
            if (hits == cap) {
                cap = 2 * cap + WAYS;
                int64_t *na = PyMem_Realloc(pa, (size_t)cap * sizeof(int64_t));
                if (na != NULL) pa = na;
                u64 *nr = PyMem_Realloc(pr, (size_t)cap * sizeof(u64));
                if (nr != NULL) pr = nr;
                if (na == NULL || nr == NULL) {
                    PyMem_Free(pa), PyMem_Free(pr);
                    PyErr_NoMemory();
                    goto done;
                }
            }
            pa[hits] = i;
            pr[hits++] = row[w] & REF_MASK;
        }
    }
    at = PyBytes_FromStringAndSize((const char *)pa, hits * 8);
    refs = PyBytes_FromStringAndSize((const char *)pr, hits * 8);
    PyMem_Free(pa);
    PyMem_Free(pr);
    if (at != NULL && refs != NULL) result = Py_BuildValue("(OO)", at, refs);
done:
    Py_XDECREF(at);
    Py_XDECREF(refs);
    release_arrays(2, v);
    return result;
}

/* core._Shared: shared_pairs(keys, owner, title, n, cap) -> (earlier int64, title bool, count int64, bounds
 * int64) for a chunk's signature keys (by story: owner sorted, below n): for each story, the earlier stories of
 * the chunk holding one of its keys (each key pairs with its first `cap` holders), one entry per (earlier story,
 * headline key or not) with how many keys, in the order of the pairs' first (the story's keys by value, then by
 * place; a key's holders in chunk order); story i's entries are [bounds[i], bounds[i + 1]). */
static PyObject *shared_pairs(PyObject *self, PyObject *args) {
    PyObject *k_o, *o_o, *t_o;
    Py_ssize_t n, cap;
    if (!PyArg_ParseTuple(args, "OOOnn", &k_o, &o_o, &t_o, &n, &cap)) return NULL;
    if (n < 0 || cap < 0) {
        PyErr_SetString(PyExc_ValueError, "n and cap must not be negative");
        return NULL;
    }
    Py_buffer v[3];
    Py_ssize_t m;
    if (get_story_arrays(k_o, o_o, t_o, v, &m) < 0) return NULL;
    PyObject *result = NULL, *out_e = NULL, *out_t = NULL, *out_c = NULL, *out_b = NULL;
    const u64 *key = v[0].buf;
    const int64_t *owner = v[1].buf;
    const unsigned char *title = v[2].buf;
    Py_ssize_t size = 16;
    while (size < 2 * m) size *= 2;
    /* key -> its run: the first `cap` holders (places in the chunk) and how many so far */
    u64 *slot_key = PyMem_Calloc((size_t)size, sizeof(u64));
    Py_ssize_t *slot_run = PyMem_Malloc((size_t)size * sizeof(Py_ssize_t));
    Py_ssize_t *run_count = PyMem_Calloc((size_t)m + 1, sizeof(Py_ssize_t));
    /* each run's first `cap` holders, chained: the first, and after each the next (an array of cap slots a run
     * was 2 MB a chunk, each page of it touched) */
    Py_ssize_t *first_holder = PyMem_Malloc(((size_t)m + 1) * sizeof(Py_ssize_t));
    Py_ssize_t *last_holder = PyMem_Malloc(((size_t)m + 1) * sizeof(Py_ssize_t));
    Py_ssize_t *next_holder = PyMem_Malloc(((size_t)m + 1) * sizeof(Py_ssize_t));
    Py_ssize_t *run_of = PyMem_Malloc(((size_t)m + 1) * sizeof(Py_ssize_t));   /* each key's run */
    Py_ssize_t *rank = PyMem_Malloc(((size_t)m + 1) * sizeof(Py_ssize_t));     /* its place in the run */
    Py_ssize_t *todo = PyMem_Malloc(((size_t)m + 1) * sizeof(Py_ssize_t));     /* a story's keys with pairs */
    int64_t *e_other = NULL, *e_count = NULL;
    unsigned char *e_title = NULL;
    Py_ssize_t entries = 0, room = m + 16;
    e_other = PyMem_Malloc((size_t)room * sizeof(int64_t));
    e_count = PyMem_Malloc((size_t)room * sizeof(int64_t));
    e_title = PyMem_Malloc((size_t)room);
    int64_t *bounds = PyMem_Malloc(((size_t)n + 1) * sizeof(int64_t));
    if (!slot_key || !slot_run || !run_count || !first_holder || !last_holder || !next_holder || !run_of || !rank ||
        !todo || !e_other || !e_count || !e_title || !bounds) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < size; i++) slot_run[i] = -1;
    Py_ssize_t runs = 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        if (owner[i] < 0 || owner[i] >= n || (i && owner[i] < owner[i - 1])) {
            PyErr_SetString(PyExc_ValueError, "owner must be sorted and below n");
            goto done;
        }
        u64 at = (key[i] * 0x9E3779B97F4A7C15ULL) >> 20 & (u64)(size - 1);
        while (slot_run[at] >= 0 && slot_key[at] != key[i]) at = (at + 1) & (u64)(size - 1);
        if (slot_run[at] < 0) slot_key[at] = key[i], slot_run[at] = runs++;
        Py_ssize_t r = slot_run[at];
        run_of[i] = r;
        rank[i] = run_count[r];
        if (run_count[r] < cap) {
            if (run_count[r] == 0) first_holder[r] = i;
            else next_holder[last_holder[r]] = i;
            last_holder[r] = i;
        }
        run_count[r]++;
    }
    Py_ssize_t i = 0;
    for (int64_t s = 0; s < n; s++) {
        bounds[s] = entries;
        Py_ssize_t a = i, count = 0;
        while (i < m && owner[i] == s) i++;
        for (Py_ssize_t j = a; j < i; j++) {  /* the keys with earlier holders, by value then place */
            if (!rank[j] || !cap) continue;
            Py_ssize_t x = count++;
            for (; x > 0 && key[todo[x - 1]] > key[j]; x--) todo[x] = todo[x - 1];
            todo[x] = j;
        }
        Py_ssize_t first = entries;
        for (Py_ssize_t x = 0; x < count; x++) {
            Py_ssize_t j = todo[x], r = run_of[j], before = rank[j] < cap ? rank[j] : cap;
            Py_ssize_t holder = first_holder[r];
            for (Py_ssize_t t = 0; t < before; t++, holder = next_holder[holder]) {
                int64_t other = owner[holder];
                if (other == s) continue;
                Py_ssize_t e = first;
                while (e < entries && (e_other[e] != other || e_title[e] != title[j])) e++;
                if (e < entries) {
                    e_count[e]++;
                    continue;
                }
                if (entries == room) {
                    room *= 2;
                    int64_t *no = PyMem_Realloc(e_other, (size_t)room * sizeof(int64_t));
                    if (no) e_other = no;
                    int64_t *nc = PyMem_Realloc(e_count, (size_t)room * sizeof(int64_t));
                    if (nc) e_count = nc;
                    unsigned char *nt = PyMem_Realloc(e_title, (size_t)room);
                    if (nt) e_title = nt;
                    if (!no || !nc || !nt) {
                        PyErr_NoMemory();
                        goto done;
                    }
                }
                e_other[entries] = other, e_title[entries] = title[j], e_count[entries] = 1;
                entries++;
            }
        }
    }
    bounds[n] = entries;
    out_e = PyBytes_FromStringAndSize((const char *)e_other, entries * 8);
    out_t = PyBytes_FromStringAndSize((const char *)e_title, entries);
    out_c = PyBytes_FromStringAndSize((const char *)e_count, entries * 8);
    out_b = PyBytes_FromStringAndSize((const char *)bounds, (n + 1) * 8);
    if (out_e && out_t && out_c && out_b) result = Py_BuildValue("(OOOO)", out_e, out_t, out_c, out_b);
done:
    Py_XDECREF(out_e), Py_XDECREF(out_t), Py_XDECREF(out_c), Py_XDECREF(out_b);
    PyMem_Free(slot_key), PyMem_Free(slot_run), PyMem_Free(run_count), PyMem_Free(first_holder);
    PyMem_Free(last_holder), PyMem_Free(next_holder), PyMem_Free(run_of);
    PyMem_Free(rank), PyMem_Free(todo), PyMem_Free(e_other), PyMem_Free(e_count), PyMem_Free(e_title);
    PyMem_Free(bounds);
    release_arrays(3, v);
    return result;
}

/* normalize.words joined for ASCII text: ascii_words(text, n) -> its first n words (all when n < 0), folded
 * (lower case) and joined by single spaces, where a word is a run of ASCII letters, digits and "_"; None when
 * the text is not ASCII (the caller then folds it in Python). */
static PyObject *ascii_words(PyObject *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "Un", &text, &n)) return NULL;
    if (!PyUnicode_IS_ASCII(text)) Py_RETURN_NONE;
    const unsigned char *in = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text), size = 0, words = 0;
    char *buf = PyMem_Malloc((size_t)len + 1);
    if (buf == NULL) return PyErr_NoMemory();
    int in_word = 0;
    for (Py_ssize_t i = 0; i < len && (n < 0 || words < n || in_word); i++) {
        unsigned char c = in[i];
        int word_char = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (c >= 'A' && c <= 'Z');
        if (word_char) {
            if (!in_word) {
                if (words == n) break;
                if (words) buf[size++] = ' ';
                words++;
                in_word = 1;
            }
            buf[size++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        } else {
            in_word = 0;
        }
    }
    PyObject *out = PyUnicode_New(size, 127);
    if (out != NULL) memcpy(PyUnicode_1BYTE_DATA(out), buf, (size_t)size);
    PyMem_Free(buf);
    return out;
}

/* The anchors anchors_in last looked for (a reference held, so the tuple stays the same object), and for each
 * pair of bytes (6 low bits of each) the anchors that may start with it: one pass over a text instead of a
 * search per anchor. */
static PyObject *anchors_cached = NULL;
static uint64_t anchors_by_pair[4096];

static inline unsigned pair_of(unsigned char a, unsigned char b) { return ((unsigned)(a & 63) << 6) | (b & 63); }

/* normalize._boilerplate_in's first step for ASCII text: anchors_in(text, anchors) -> the anchors (a tuple of
 * ASCII strings, at most 64) that text holds, in their order; None when the text is not ASCII (Python then
 * looks). */
static PyObject *anchors_in(PyObject *self, PyObject *args) {
    PyObject *text, *anchors;
    if (!PyArg_ParseTuple(args, "UO!", &text, &PyTuple_Type, &anchors)) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(anchors);
    if (n > 64) {
        PyErr_SetString(PyExc_ValueError, "at most 64 anchors");
        return NULL;
    }
    if (anchors != anchors_cached) {
        uint64_t all = 0;
        memset(anchors_by_pair, 0, sizeof(anchors_by_pair));
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *a = PyTuple_GET_ITEM(anchors, i);
            if (!PyUnicode_Check(a) || !PyUnicode_IS_ASCII(a)) {
                Py_CLEAR(anchors_cached);
                PyErr_SetString(PyExc_TypeError, "anchors must be ASCII strings");
                return NULL;
            }
            const unsigned char *s = PyUnicode_1BYTE_DATA(a);
            Py_ssize_t alen = PyUnicode_GET_LENGTH(a);
            if (alen == 0) all |= (uint64_t)1 << i;  /* in every text */
            else if (alen == 1)  /* any second byte */
                for (unsigned c = 0; c < 64; c++) anchors_by_pair[pair_of(s[0], (unsigned char)c)] |= (uint64_t)1 << i;
            else anchors_by_pair[pair_of(s[0], s[1])] |= (uint64_t)1 << i;
        }
        for (unsigned p = 0; p < 4096 && all; p++) anchors_by_pair[p] |= all;
        Py_XSETREF(anchors_cached, Py_NewRef(anchors));
    }
    if (!PyUnicode_IS_ASCII(text)) Py_RETURN_NONE;
    const unsigned char *in = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    uint64_t found = 0, wanted = n == 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
    for (Py_ssize_t i = 0; i < len && found != wanted; i++) {
        uint64_t maybe = anchors_by_pair[pair_of(in[i], i + 1 < len ? in[i + 1] : 0)] & ~found;
        while (maybe) {
            int k = __builtin_ctzll(maybe);
            maybe &= maybe - 1;
            PyObject *a = PyTuple_GET_ITEM(anchors, k);
            Py_ssize_t alen = PyUnicode_GET_LENGTH(a);
            if (alen <= len - i && memcmp(in + i, PyUnicode_1BYTE_DATA(a), (size_t)alen) == 0) found |= (uint64_t)1 << k;
        }
    }
    if (len == 0)  /* (only empty anchors are in an empty text) */
        for (Py_ssize_t k = 0; k < n; k++) found |= (uint64_t)(PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(anchors, k)) == 0) << k;
    PyObject *out = PyTuple_New(__builtin_popcountll(found));
    if (out == NULL) return NULL;
    for (Py_ssize_t k = 0, at = 0; k < n; k++)
        if (found >> k & 1) PyTuple_SET_ITEM(out, at++, Py_NewRef(PyTuple_GET_ITEM(anchors, k)));
    return out;
}

/* `" ".join(text.split())` for ASCII text (str.split's white space there: \t \n \v \f \r, space and \x1c-\x1f),
 * the text itself when it is so already; None when the text is not ASCII. */
static PyObject *single_spaced(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "a str is needed");
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(arg)) Py_RETURN_NONE;
    const unsigned char *in = PyUnicode_1BYTE_DATA(arg);
    Py_ssize_t len = PyUnicode_GET_LENGTH(arg), size = 0;
    /* Single-spaced already (most texts, once parsed): handed back after one pass that writes nothing. */
    int odd = len > 0 && (in[0] == ' ' || in[len - 1] == ' ');
    for (Py_ssize_t i = 0; i < len && !odd; i++) {
        unsigned char c = in[i];
        odd = (c == ' ' && in[i + 1] == ' ') || (c >= 9 && c <= 13) || (c >= 28 && c <= 31);
    }
    if (!odd) return Py_NewRef(arg);
    char *buf = PyMem_Malloc((size_t)len + 1);
    if (buf == NULL) return PyErr_NoMemory();
    int gap = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = in[i];
        if (c == ' ' || (c >= 9 && c <= 13) || (c >= 28 && c <= 31)) {
            gap = 1;
            continue;
        }
        if (gap && size) buf[size++] = ' ';
        gap = 0;
        buf[size++] = (char)c;
    }
    int same = size == len && memcmp(buf, in, (size_t)len) == 0;  /* (a tab for a space keeps the length) */
    PyObject *out = same ? Py_NewRef(arg) : PyUnicode_New(size, 127);
    if (out != NULL && !same) memcpy(PyUnicode_1BYTE_DATA(out), buf, (size_t)size);
    PyMem_Free(buf);
    return out;
}

/* sources.parse.item_url of a plain link (ASCII, "http://" or "https://", a host of letters, digits, "." and
 * "-", then a path of printable characters, no query, maybe a fragment: `_PLAIN_URL`): the host in lower case
 * without "www.", "amp." or "m.", the path without trailing slashes; "" when that leaves no path (a site's root
 * names no item). None for any other link, and for a path holding "amp" (an AMP variant): Python makes those. */
static inline int host_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static inline char lower(unsigned char c) { return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c); }

static PyObject *item_url(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "a str is needed");
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(arg)) Py_RETURN_NONE;
    const char *in = (const char *)PyUnicode_1BYTE_DATA(arg);
    Py_ssize_t len = PyUnicode_GET_LENGTH(arg), at;
    if (len >= 7 && memcmp(in, "http://", 7) == 0) at = 7;
    else if (len >= 8 && memcmp(in, "https://", 8) == 0) at = 8;
    else Py_RETURN_NONE;
    Py_ssize_t host = at;
    while (at < len && host_char((unsigned char)in[at])) at++;
    Py_ssize_t host_end = at, path = at;
    if (host_end == host) Py_RETURN_NONE;
    while (at < len && in[at] != '#' && in[at] != '?' && (unsigned char)in[at] > 0x20 && in[at] != 0x7f) at++;
    Py_ssize_t path_end = at;
    if (path_end > path && in[path] != '/') Py_RETURN_NONE;  /* the host ended at something else (":", "@", ...) */
    if (at < len && in[at] != '#') Py_RETURN_NONE;  /* a query, white space: not plain (a fragment is dropped) */
    for (Py_ssize_t i = path; i + 3 <= path_end; i++)
        if (in[i] == 'a' && in[i + 1] == 'm' && in[i + 2] == 'p') Py_RETURN_NONE;
    while (path_end > path && in[path_end - 1] == '/') path_end--;
    if (path_end == path) return PyUnicode_New(0, 127);
    char start[4];
    Py_ssize_t k;
    for (k = 0; k < 4 && host + k < host_end; k++) start[k] = lower((unsigned char)in[host + k]);
    if ((k >= 4 && memcmp(start, "www.", 4) == 0) || (k >= 4 && memcmp(start, "amp.", 4) == 0))
        host += 4;
    else if (k >= 2 && memcmp(start, "m.", 2) == 0)
        host += 2;
    Py_ssize_t size = (host_end - host) + (path_end - path);
    PyObject *out = PyUnicode_New(size, 127);
    if (out == NULL) return NULL;
    char *buf = (char *)PyUnicode_1BYTE_DATA(out);
    for (Py_ssize_t i = host; i < host_end; i++) *buf++ = lower((unsigned char)in[i]);
    memcpy(buf, in + path, (size_t)(path_end - path));
    return out;
}

/* One sorted array of an IdentityIndex (keys, and the row of each: 4- or 8-byte numbers). */
typedef struct {
    Py_buffer keys, rows;
    Py_ssize_t n;
    int wide;
} sorted_rows;

/* Where q is among the n sorted keys k, -1 when it is not. The keys are hashes, spread evenly over their range,
 * so each step guesses q's place from the values at the range's ends (interpolation search: a handful of steps
 * at a million keys, where a binary search takes twenty, most of them cache misses); after a few guesses, or in a
 * range of a few keys, it halves the range or walks it instead, so keys bunched up cost no more than a binary
 * search. */
static Py_ssize_t find_sorted(const u64 *k, Py_ssize_t n, u64 q) {
    Py_ssize_t lo = 0, hi = n - 1;
    for (int step = 0; hi - lo > 8; step++) {
        u64 a = k[lo], b = k[hi];
        if (q < a || q > b) return -1;
        Py_ssize_t at = lo + (hi - lo) / 2;
        if (step < 8 && b > a) at = lo + (Py_ssize_t)((unsigned __int128)(q - a) * (u64)(hi - lo) / (b - a));
        if (k[at] < q) lo = at + 1;
        else if (k[at] > q) hi = at - 1;
        else return at;
    }
    while (lo <= hi && k[lo] < q) lo++;
    return lo <= hi && k[lo] == q ? lo : -1;
}

/* The first place find_sorted looks at for q (to fetch it into the cache ahead of the search). */
static inline const u64 *first_guess(const u64 *k, Py_ssize_t n, u64 q) {
    if (n < 2 || q <= k[0] || q >= k[n - 1]) return k;
    return k + (Py_ssize_t)((unsigned __int128)(q - k[0]) * (u64)(n - 1) / (k[n - 1] - k[0]));
}

static void release_sorted(sorted_rows *parts, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < count; i++) {
        PyBuffer_Release(&parts[i].keys);
        PyBuffer_Release(&parts[i].rows);
    }
}

/* parts[i] from keys[i] and rows[i] (sequences of one length, `count`); on failure none held. */
static int get_sorted(PyObject *keys, PyObject *rows, sorted_rows *parts, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < count; i++) {
        sorted_rows *p = &parts[i];
        Py_ssize_t nr;
        if (get_array(PyList_GET_ITEM(keys, i), &p->keys, 8, 0, &p->n, "keys") < 0) goto fail;
        if (get_array(PyList_GET_ITEM(rows, i), &p->rows, 1, 0, &nr, "rows") < 0) {
            PyBuffer_Release(&p->keys);
            goto fail;
        }
        if (nr != 4 * p->n && nr != 8 * p->n) {
            PyErr_SetString(PyExc_ValueError, "rows must be 4- or 8-byte numbers, one for each key");
            release_sorted(parts, i + 1);
            return -1;
        }
        p->wide = nr == 8 * p->n && p->n > 0;
        continue;
    fail:
        release_sorted(parts, i);
        return -1;
    }
    return 0;
}

static inline u64 row_of(const sorted_rows *p, Py_ssize_t at) {
    return p->wide ? ((const u64 *)p->rows.buf)[at] : ((const uint32_t *)p->rows.buf)[at];
}

/* identities.IdentityIndex.find's arrays (not its dict of newest entries): index_find(wanted, filter, keys, rows,
 * shift) -> the row of each wanted key as u64 (0: none), as bytes. A key is looked for only if its bit in the
 * filter (bytes; bit key & (8 x len - 1)) is set: in the sorted part keys[key >> shift] (`keys` and `rows`:
 * lists of one length, the big arrays' shards then the middle array last, which is newer and so wins). */
static PyObject *index_find(PyObject *self, PyObject *args) {
    PyObject *wanted_o, *filter_o, *keys_o, *rows_o;
    int shift;
    if (!PyArg_ParseTuple(args, "OOO!O!i", &wanted_o, &filter_o, &PyList_Type, &keys_o, &PyList_Type, &rows_o,
                          &shift))
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(keys_o);
    if (count != PyList_GET_SIZE(rows_o) || shift < 48 || shift > 63 || count - 1 != (Py_ssize_t)1 << (64 - shift)) {
        PyErr_SetString(PyExc_ValueError, "keys and rows: one array per shard (2**(64 - shift)), then the middle one");
        return NULL;
    }
    Py_buffer v[2];
    Py_ssize_t len[2];
    if (get_two(wanted_o, filter_o, 8, 1, 0, 0, "wanted", "filter", v, len) < 0) return NULL;
    PyObject *result = NULL;
    sorted_rows *parts = PyMem_Calloc((size_t)count, sizeof(sorted_rows));
    Py_ssize_t *maybe = PyMem_Malloc((size_t)(len[0] + 1) * sizeof(Py_ssize_t));
    if (parts == NULL || maybe == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (len[1] == 0) {
        PyErr_SetString(PyExc_ValueError, "the filter is empty");
        goto done;
    }
    if (get_sorted(keys_o, rows_o, parts, count) < 0) goto done;
    Py_ssize_t n = len[0], m = 0;
    void *pout;
    result = new_bytes(n * 8, &pout);
    if (result != NULL) {
        const u64 *w = v[0].buf;
        const unsigned char *f = v[1].buf;
        u64 bits = (u64)len[1] * 8 - 1, *out = pout;
        const sorted_rows *mid = &parts[count - 1];
        for (Py_ssize_t i = 0; i < n; i++) {  /* the filter first, for all (most keys asked are of new stories) */
            if (i + AHEAD < n) __builtin_prefetch(f + ((w[i + AHEAD] & bits) >> 3));
            u64 bit = w[i] & bits;
            out[i] = 0;
            if (f[bit >> 3] & (1u << (bit & 7))) maybe[m++] = i;
        }
        for (Py_ssize_t j = 0; j < m; j++) {
            if (j + AHEAD < m) {
                u64 q = w[maybe[j + AHEAD]];
                const sorted_rows *p = &parts[q >> shift];
                __builtin_prefetch(first_guess(p->keys.buf, p->n, q));
                __builtin_prefetch(first_guess(mid->keys.buf, mid->n, q));
            }
            u64 q = w[maybe[j]];
            const sorted_rows *p = &parts[q >> shift];
            Py_ssize_t at = find_sorted(mid->keys.buf, mid->n, q);
            if (at >= 0) out[maybe[j]] = row_of(mid, at);
            else if ((at = find_sorted(p->keys.buf, p->n, q)) >= 0) out[maybe[j]] = row_of(p, at);
        }
        release_sorted(parts, count);
    }
done:
    PyMem_Free(parts);
    PyMem_Free(maybe);
    release_arrays(2, v);
    return result;
}

/* identities.IdentityIndex._remember: bloom_add(filter, keys) sets bit key & (8 x len - 1) of the filter (a
 * writable buffer of bytes) for each key. */
static PyObject *bloom_add(PyObject *self, PyObject *args) {
    PyObject *filter_o, *keys_o;
    if (!PyArg_ParseTuple(args, "OO", &filter_o, &keys_o)) return NULL;
    Py_buffer v[2];
    Py_ssize_t len[2];
    if (get_two(filter_o, keys_o, 1, 8, 1, 0, "filter", "keys", v, len) < 0) return NULL;
    PyObject *result = NULL;
    if (len[0] == 0) {
        PyErr_SetString(PyExc_ValueError, "the filter is empty");
    } else {
        unsigned char *f = v[0].buf;
        const u64 *k = v[1].buf;
        u64 bits = (u64)len[0] * 8 - 1;
        for (Py_ssize_t i = 0; i < len[1]; i++) {
            if (i + AHEAD < len[1]) __builtin_prefetch(f + ((k[i + AHEAD] & bits) >> 3), 1);
            u64 bit = k[i] & bits;
            f[bit >> 3] |= (unsigned char)(1u << (bit & 7));
        }
        result = Py_NewRef(Py_None);
    }
    release_arrays(2, v);
    return result;
}

/* identities._merged: sorted_merge(keys, rows, add, add_rows, oldest_row, out_keys, out_rows) -> how many
 * entries were written to out_keys (u64) and out_rows (u32, or u64 if either rows or add_rows is): the sorted
 * unique keys with their rows, and the newer sorted unique entries `add` (a key's row replaced by add's), in one
 * pass, without entries of rows before oldest_row (0: none dropped). The outputs must have room for both. */
static PyObject *sorted_merge(PyObject *self, PyObject *args) {
    PyObject *k_o, *r_o, *a_o, *ar_o, *ok_o, *or_o;
    unsigned long long oldest;
    if (!PyArg_ParseTuple(args, "OOOOKOO", &k_o, &r_o, &a_o, &ar_o, &oldest, &ok_o, &or_o)) return NULL;
    PyObject *const objs[6] = {k_o, r_o, a_o, ar_o, ok_o, or_o};
    const Py_ssize_t sizes[6] = {8, 1, 8, 1, 8, 1};
    const int writable[6] = {0, 0, 0, 0, 1, 1};
    const char *const names[6] = {"keys", "rows", "add", "add_rows", "out_keys", "out_rows"};
    Py_buffer v[6];
    Py_ssize_t len[6];
    if (get_arrays(6, objs, sizes, writable, names, v, len) < 0) return NULL;
    Py_ssize_t n = len[0], m = len[2], written = 0;
    int wide_r = len[1] == 8 * n && n, wide_a = len[3] == 8 * m && m, wide = len[5] == 8 * len[4];
    PyObject *result = NULL;
    if ((len[1] != 4 * n && len[1] != 8 * n) || (len[3] != 4 * m && len[3] != 8 * m) ||
        (len[5] != 4 * len[4] && len[5] != 8 * len[4]) || len[4] < n + m || (!wide && (wide_r || wide_a))) {
        PyErr_SetString(PyExc_ValueError, "rows must be 4- or 8-byte numbers, one for each key, the outputs wide "
                        "enough and with room for both");
        goto done;
    }
    const u64 *k = v[0].buf, *a = v[2].buf;
    u64 *ok = v[4].buf;
    Py_ssize_t i = 0, j = 0;
#define ROW(buf, w, at) ((w) ? ((const u64 *)(buf))[at] : (u64)((const uint32_t *)(buf))[at])
    while (i < n || j < m) {
        u64 key, row;
        if (j >= m || (i < n && k[i] < a[j])) {
            key = k[i], row = ROW(v[1].buf, wide_r, i), i++;
        } else {
            if (i < n && k[i] == a[j]) i++;  /* replaced by the newer entry */
            key = a[j], row = ROW(v[3].buf, wide_a, j), j++;
        }
        if (oldest && row < oldest) continue;
        ok[written] = key;
        if (wide) ((u64 *)v[5].buf)[written] = row;
        else ((uint32_t *)v[5].buf)[written] = (uint32_t)row;
        written++;
    }
#undef ROW
    result = PyLong_FromSsize_t(written);
done:
    release_arrays(6, v);
    return result;
}

/* identities._Newest, an open-addressing table of keys (0: an empty slot) and rows, its size a power of two:
 * a key's first slot, then the next ones (linear probing). */
static inline u64 newest_slot(u64 key, u64 mask) { return ((key * 0x9E3779B97F4A7C15ULL) >> 32) & mask; }

static int get_newest(PyObject *keys_o, PyObject *rows_o, Py_buffer v[2], u64 *mask) {
    Py_ssize_t len[2];
    if (get_two(keys_o, rows_o, 8, 8, 1, 1, "table keys", "table rows", v, len) < 0) return -1;
    if (len[0] != len[1] || len[0] < 2 || (len[0] & (len[0] - 1))) {
        PyErr_SetString(PyExc_ValueError, "table keys and rows: one length, a power of two");
        release_arrays(2, v);
        return -1;
    }
    *mask = (u64)len[0] - 1;
    return 0;
}

/* newest_put(table_keys, table_rows, keys, rows) -> how many keys were new: each key's row set (a later one in
 * `keys` wins), key 0 left out (the caller keeps it). The caller keeps the table at most half full. */
static PyObject *newest_put(PyObject *self, PyObject *args) {
    PyObject *tk_o, *tr_o, *k_o, *r_o;
    if (!PyArg_ParseTuple(args, "OOOO", &tk_o, &tr_o, &k_o, &r_o)) return NULL;
    Py_buffer t[2], v[2];
    u64 mask;
    if (get_newest(tk_o, tr_o, t, &mask) < 0) return NULL;
    Py_ssize_t len[2];
    if (get_two(k_o, r_o, 8, 8, 0, 0, "keys", "rows", v, len) < 0) {
        release_arrays(2, t);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t added = 0;
    u64 *tk = t[0].buf, *tr = t[1].buf;
    const u64 *k = v[0].buf, *r = v[1].buf;
    if (len[0] != len[1]) {
        PyErr_SetString(PyExc_ValueError, "keys and rows must be of one length");
        goto done;
    }
    for (Py_ssize_t i = 0; i < len[0]; i++) {
        if (i + AHEAD < len[0]) __builtin_prefetch(tk + newest_slot(k[i + AHEAD], mask), 1);
        if (!k[i]) continue;
        u64 at = newest_slot(k[i], mask), probes = 0;
        while (tk[at] && tk[at] != k[i]) {
            if (++probes > mask) {
                PyErr_SetString(PyExc_ValueError, "the table is full");
                goto done;
            }
            at = (at + 1) & mask;
        }
        added += !tk[at];
        tk[at] = k[i], tr[at] = r[i];
    }
    result = PyLong_FromSsize_t(added);
done:
    release_arrays(2, v);
    release_arrays(2, t);
    return result;
}

/* newest_get(table_keys, table_rows, keys) -> the row of each key in the table as u64 (0: none; key 0: none), as
 * bytes. */
static PyObject *newest_get(PyObject *self, PyObject *args) {
    PyObject *tk_o, *tr_o, *k_o;
    if (!PyArg_ParseTuple(args, "OOO", &tk_o, &tr_o, &k_o)) return NULL;
    Py_buffer t[2], v;
    u64 mask;
    Py_ssize_t n;
    if (get_newest(tk_o, tr_o, t, &mask) < 0) return NULL;
    if (get_array(k_o, &v, 8, 0, &n, "keys") < 0) {
        release_arrays(2, t);
        return NULL;
    }
    void *pout;
    PyObject *result = new_bytes(n * 8, &pout);
    if (result != NULL) {
        const u64 *tk = t[0].buf, *tr = t[1].buf, *k = v.buf;
        u64 *out = pout;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (i + AHEAD < n) __builtin_prefetch(tk + newest_slot(k[i + AHEAD], mask));
            u64 at = newest_slot(k[i], mask), row = 0;
            for (u64 probes = 0; k[i] && tk[at] && probes <= mask; probes++, at = (at + 1) & mask) {
                if (tk[at] == k[i]) {
                    row = tr[at];
                    break;
                }
            }
            out[i] = row;
        }
    }
    PyBuffer_Release(&v);
    release_arrays(2, t);
    return result;
}

static PyMethodDef methods[] = {
    {"word_spans", word_spans, METH_VARARGS, "index._word_spans on the joined bytes."},
    {"stem_lookup", stem_lookup, METH_VARARGS, "index._Stems.get."},
    {"keys_of", keys_of, METH_VARARGS, "The keys part of index.signatures."},
    {"table_add", table_add, METH_VARARGS, "KeyTable.add_many."},
    {"table_lookup", table_lookup, METH_VARARGS, "KeyTable.lookup_many."},
    {"shared_pairs", shared_pairs, METH_VARARGS, "core._Shared."},
    {"ascii_words", ascii_words, METH_VARARGS, "normalize.words joined, of ASCII text."},
    {"anchors_in", anchors_in, METH_VARARGS, "The anchors an ASCII text holds."},
    {"single_spaced", single_spaced, METH_O, "' '.join(text.split()) of ASCII text."},
    {"item_url", item_url, METH_O, "sources.parse.item_url of a plain link."},
    {"index_find", index_find, METH_VARARGS, "IdentityIndex.find's arrays."},
    {"bloom_add", bloom_add, METH_VARARGS, "IdentityIndex._remember."},
    {"sorted_merge", sorted_merge, METH_VARARGS, "identities._merged."},
    {"newest_put", newest_put, METH_VARARGS, "identities._Newest.put."},
    {"newest_get", newest_get, METH_VARARGS, "identities._Newest.over."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native", "Compiled dedup kernels (see _native.c).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
