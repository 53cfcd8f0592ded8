/*
 * The job directory (see jobdir.h for the model): a sorted array of pages, each page a
 * 512-bit presence bitmap followed by the pointers of the ids present, packed in id order.
 *
 * Invariants, checked by the unit tests against a flat reference model:
 *   - every page in d->pages holds at least one id (a page is freed with its last id), so
 *     the successor of an id is always in its own page or in the first bit of the next one;
 *   - a page's count equals the popcount of its bitmap and count <= cap <= JOBDIR_PAGE_IDS;
 *   - d->pages is strictly increasing in page number; d->last is only a hint and is
 *     validated before each use, so removals never need to repair it.
 * The pointer array lives in the same allocation as the page header (a flexible array
 * member), so a page is one malloc and a lookup touches one cache line for the header and
 * one for the pointer. It doubles when full and halves when a quarter full: the hysteresis
 * keeps a page oscillating at a boundary from reallocating on every operation.
 */
#include "jobdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vec.h"

#define WORDS (JOBDIR_PAGE_IDS / 64)
#define PAGE_CAP_MIN 2
#define PAGES_CAP_MIN 4

struct jobdir_page {
    uint64_t pageno; /* id / JOBDIR_PAGE_IDS */
    uint64_t bits[WORDS];
    uint16_t below[WORDS]; /* ids present in the words before each word: rank is one popcount */
    uint16_t count, cap;
    uint16_t start; /* the pointers are ptrs[start, start + count) */
    void *ptrs[];
};

_Static_assert(JOBDIR_PAGE_IDS % 64 == 0, "the bitmap is whole words");
_Static_assert(JOBDIR_PAGE_IDS <= UINT16_MAX, "count and cap are uint16_t");

static size_t page_bytes(size_t cap)
{
    return sizeof(jobdir_page) + cap * sizeof(void *);
}

/* Without -mpopcnt (Debian's baseline x86-64 has no POPCNT), __builtin_popcountll is a
 * libgcc call that cost 3% of synqd's time in a cycle benchmark; the bit-parallel sum
 * is a dozen inline instructions. */
static inline unsigned popcount64(uint64_t x)
{
#ifdef __POPCNT__
    return (unsigned)__builtin_popcountll(x);
#else
    x -= (x >> 1) & UINT64_C(0x5555555555555555);
    x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
    x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
    return (unsigned)((x * UINT64_C(0x0101010101010101)) >> 56);
#endif
}

/* Moves the pointers to the front of the array. */
static void page_compact(jobdir_page *p)
{
    memmove(p->ptrs, &p->ptrs[p->start], p->count * sizeof *p->ptrs);
    p->start = 0;
}

/* The number of present ids below bit in page p: the index of bit's pointer. */
static unsigned page_rank(const jobdir_page *p, unsigned bit)
{
    unsigned w = bit / 64;
    uint64_t below = (UINT64_C(1) << (bit % 64)) - 1;
    return p->below[w] + popcount64(p->bits[w] & below);
}

static bool page_has(const jobdir_page *p, unsigned bit)
{
    return (p->bits[bit / 64] >> (bit % 64)) & 1;
}

/* The first present bit >= from in p, or JOBDIR_PAGE_IDS if there is none. */
static unsigned page_next_bit(const jobdir_page *p, unsigned from)
{
    if (from >= JOBDIR_PAGE_IDS)
        return JOBDIR_PAGE_IDS;
    unsigned w = from / 64;
    uint64_t word = p->bits[w] & (~UINT64_C(0) << (from % 64));
    for (;;) {
        if (word)
            return w * 64 + (unsigned)__builtin_ctzll(word);
        if (++w == WORDS)
            return JOBDIR_PAGE_IDS;
        word = p->bits[w];
    }
}

/*
 * The index of the first page whose number is >= pageno (d->npages if none). Two O(1)
 * checks come before the binary search: the hint, and its successor slot (which is where
 * an iteration or a put in increasing id order goes next); then the tail, because new ids
 * are the largest ones and land there.
 */
static size_t lower_bound(const jobdir *d, uint64_t pageno)
{
    size_t n = d->npages;
    if (n == 0)
        return 0;
    size_t h = d->last;
    if (h < n) {
        uint64_t hp = d->pages[h]->pageno;
        if (hp == pageno)
            return h;
        if (hp < pageno && (h + 1 == n || d->pages[h + 1]->pageno >= pageno))
            return h + 1;
    }
    if (d->pages[n - 1]->pageno < pageno)
        return n;
    size_t lo = 0, hi = n - 1; /* pages[hi]->pageno >= pageno holds throughout */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->pages[mid]->pageno < pageno)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The page numbered pageno, or NULL; a hit becomes the hint. */
static jobdir_page *find_page(jobdir *d, uint64_t pageno)
{
    size_t i = lower_bound(d, pageno);
    if (i == d->npages || d->pages[i]->pageno != pageno)
        return NULL;
    d->last = i;
    return d->pages[i];
}

void jobdir_init(jobdir *d)
{
    d->pages = NULL;
    d->npages = d->cap = 0;
    d->len = 0;
    d->last = 0;
}

void jobdir_dispose(jobdir *d)
{
    for (size_t i = 0; i < d->npages; i++)
        free(d->pages[i]);
    free(d->pages);
    jobdir_init(d);
}

void *jobdir_get(jobdir *d, uint64_t id)
{
    jobdir_page *p = find_page(d, id / JOBDIR_PAGE_IDS);
    unsigned bit = (unsigned)(id % JOBDIR_PAGE_IDS);
    if (!p || !page_has(p, bit))
        return NULL;
    return p->ptrs[p->start + page_rank(p, bit)];
}

/* Makes room for one more page pointer; false on ENOMEM with nothing changed. */
static bool reserve_page_slot(jobdir *d)
{
    jobdir_page **pages =
        vec_grow(d->pages, &d->cap, d->npages + 1, sizeof(jobdir_page *), PAGES_CAP_MIN, SIZE_MAX);
    if (!pages)
        return false;
    d->pages = pages;
    return true;
}

/* A new page for pageno, at index i of d->pages; false on ENOMEM with nothing changed
 * (the page array may have grown, which only shows in the footprint). */
static bool insert_page(jobdir *d, size_t i, uint64_t pageno)
{
    if (!reserve_page_slot(d))
        return false;
    jobdir_page *p = malloc(page_bytes(PAGE_CAP_MIN));
    if (!p)
        return false;
    memset(p, 0, sizeof *p);
    p->pageno = pageno;
    p->cap = PAGE_CAP_MIN;
    memmove(&d->pages[i + 1], &d->pages[i], (d->npages - i) * sizeof(jobdir_page *));
    d->pages[i] = p;
    d->npages++;
    return true;
}

bool jobdir_insert(jobdir *d, uint64_t id, void *v)
{
    SQ_CHECK(v != NULL, "jobdir: insert of a NULL value");
    uint64_t pageno = id / JOBDIR_PAGE_IDS;
    unsigned bit = (unsigned)(id % JOBDIR_PAGE_IDS);
    size_t i = lower_bound(d, pageno);
    if (i == d->npages || d->pages[i]->pageno != pageno) {
        if (!insert_page(d, i, pageno))
            return false;
    }
    jobdir_page *p = d->pages[i];
    SQ_CHECK(!page_has(p, bit), "jobdir: insert of an id already present");
    unsigned r = page_rank(p, bit);
    if (p->start > 0 && r < p->count - r) {
        /* The shorter side moves: the pointers below r step down into the gap. */
        memmove(&p->ptrs[p->start - 1], &p->ptrs[p->start], r * sizeof *p->ptrs);
        p->start--;
    } else {
        if (p->start + p->count == p->cap) {
            if (p->count == p->cap) {
                /* cap < JOBDIR_PAGE_IDS here: a full-size page with a free bit has
                 * count < cap. */
                size_t cap = (size_t)p->cap * 2;
                p = realloc(p, page_bytes(cap));
                if (!p)
                    return false;
                p->cap = (uint16_t)cap;
                d->pages[i] = p;
            } else {
                page_compact(p);
            }
        }
        void **at = &p->ptrs[p->start + r];
        memmove(at + 1, at, (p->count - r) * sizeof *p->ptrs);
    }
    p->ptrs[p->start + r] = v;
    p->bits[bit / 64] |= UINT64_C(1) << (bit % 64);
    for (unsigned w = bit / 64 + 1; w < WORDS; w++)
        p->below[w]++;
    p->count++;
    d->len++;
    d->last = i;
    return true;
}

void jobdir_replace(jobdir *d, uint64_t id, void *v)
{
    SQ_CHECK(v != NULL, "jobdir: replace with a NULL value");
    jobdir_page *p = find_page(d, id / JOBDIR_PAGE_IDS);
    unsigned bit = (unsigned)(id % JOBDIR_PAGE_IDS);
    SQ_CHECK(p && page_has(p, bit), "jobdir: replace of an absent id");
    p->ptrs[p->start + page_rank(p, bit)] = v;
}

/* Drops the empty page at index i. Shrinking the page array is best effort: a failed
 * shrinking realloc leaves the larger array, which is still correct. */
static void remove_page(jobdir *d, size_t i)
{
    free(d->pages[i]);
    d->npages--;
    memmove(&d->pages[i], &d->pages[i + 1], (d->npages - i) * sizeof(jobdir_page *));
    if (d->npages == 0) {
        free(d->pages);
        d->pages = NULL;
        d->cap = 0;
    } else if (d->cap > PAGES_CAP_MIN && d->npages <= d->cap / 4) {
        jobdir_page **pages = realloc(d->pages, d->cap / 2 * sizeof(jobdir_page *));
        if (pages) {
            d->pages = pages;
            d->cap /= 2;
        }
    }
    /* The page after the removed one now sits at i: the likely next page to be used
     * when jobs leave in id order. */
    d->last = i < d->npages ? i : 0;
}

void *jobdir_remove(jobdir *d, uint64_t id)
{
    uint64_t pageno = id / JOBDIR_PAGE_IDS;
    unsigned bit = (unsigned)(id % JOBDIR_PAGE_IDS);
    size_t i = lower_bound(d, pageno);
    if (i == d->npages || d->pages[i]->pageno != pageno)
        return NULL;
    jobdir_page *p = d->pages[i];
    if (!page_has(p, bit))
        return NULL;
    unsigned r = page_rank(p, bit);
    void **at = &p->ptrs[p->start + r];
    void *v = *at;
    p->count--;
    if (r < p->count - r) {
        /* Jobs leave mostly oldest first: moving the start costs nothing then. */
        memmove(&p->ptrs[p->start + 1], &p->ptrs[p->start], r * sizeof *p->ptrs);
        p->start++;
    } else {
        memmove(at, at + 1, (p->count - r) * sizeof *p->ptrs);
    }
    p->bits[bit / 64] &= ~(UINT64_C(1) << (bit % 64));
    for (unsigned w = bit / 64 + 1; w < WORDS; w++)
        p->below[w]--;
    d->len--;
    if (p->count == 0) {
        remove_page(d, i);
        return v;
    }
    d->last = i;
    if (p->cap > PAGE_CAP_MIN && p->count <= p->cap / 4) {
        /* Best effort, as for the page array: the larger page stays valid. */
        page_compact(p);
        size_t cap = p->cap / 2;
        jobdir_page *q = realloc(p, page_bytes(cap));
        if (q) {
            q->cap = (uint16_t)cap;
            d->pages[i] = q;
        }
    }
    return v;
}

void *jobdir_next(jobdir *d, uint64_t *id)
{
    if (*id == UINT64_MAX)
        return NULL;
    uint64_t from = *id + 1;
    uint64_t pageno = from / JOBDIR_PAGE_IDS;
    size_t i = lower_bound(d, pageno);
    if (i == d->npages)
        return NULL;
    jobdir_page *p = d->pages[i];
    unsigned start = p->pageno == pageno ? (unsigned)(from % JOBDIR_PAGE_IDS) : 0;
    unsigned bit = page_next_bit(p, start);
    if (bit == JOBDIR_PAGE_IDS) {
        /* Nothing left in from's page; no page is empty, so the answer is the first id
         * of the next one. */
        if (++i == d->npages)
            return NULL;
        p = d->pages[i];
        bit = page_next_bit(p, 0);
    }
    d->last = i;
    *id = p->pageno * JOBDIR_PAGE_IDS + bit;
    return p->ptrs[p->start + page_rank(p, bit)];
}

size_t jobdir_footprint(const jobdir *d)
{
    /* O(pages), len / 512 for dense ids: meant for stats, not for every command. */
    size_t bytes = d->cap * sizeof(jobdir_page *);
    for (size_t i = 0; i < d->npages; i++)
        bytes += page_bytes(d->pages[i]->cap);
    return bytes;
}
