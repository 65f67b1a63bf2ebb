/* reqscan: summary_scan (summary.h), the summary of a request and its token estimate read from
 * the raw JSON text in one pass, with no cJSON tree.
 *
 * Why: an Anthropic request that is forwarded as it came (the pass-through) needs no tree: the
 * upstream body is the raw text with "model" rewritten (jsonscan). Parsing a 94 KB Claude Code
 * body into a tree, summarising it, estimating its tokens and freeing it took 124 us; this pass
 * gives the same in 40 us, checking the text as it goes (cpu_bench: "summ us", "scan us").
 *
 * Contract: the same answer as cJSON_ParseWithLengthOpts (not NUL-terminated, trailing text
 * ignored) followed by summary_build and tokens_estimate, field for field: the same text is
 * accepted (depth limit, escapes, surrogate pairs, lenient numbers, bytes <= 32 as white space,
 * a leading BOM), the first of duplicate keys is the one read, and a string is read as C reads
 * the tree's (up to a NUL). tests/unit/test_reqscan.c checks this on every fixture and on edge
 * cases; the fuzz target `summary` checks it on any input.
 *
 * A block's fields can come in any order (its "type" after its "text"), so a block's candidate
 * counts are kept until its object closes; deferred tools wait for the end of the body, where the
 * tool_reference names seen in the messages decide whether they count. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonparse.h"
#include "summary.h"
#include "tokens.h"

#define NESTING_LIMIT 1000 /* cJSON's CJSON_NESTING_LIMIT */
#define KEY_MAX 24         /* longest name compared here is 13 bytes ("budget_tokens") */

/* ---------- arena: the decoded strings a scanned summary points at ---------- */

struct summary_arena {
    struct summary_arena *next;
    size_t cap, used;
    char data[];
};

void summary_arena_free(struct summary_arena *a) {
    while (a) {
        struct summary_arena *next = a->next;
        free(a);
        a = next;
    }
}

/* n bytes from the arena list *head (a new chunk when the current one is full). */
static char *arena_alloc(struct summary_arena **head, size_t n) {
    struct summary_arena *a = *head;
    if (!a || a->cap - a->used < n) {
        size_t cap = n > 2048 ? n : 2048;
        a = malloc(sizeof *a + cap);
        if (!a) return NULL;
        a->next = *head;
        a->cap = cap;
        a->used = 0;
        *head = a;
    }
    char *p = a->data + a->used;
    a->used += n;
    return p;
}

/* ---------- the scanner ---------- */

struct def_tool { /* a tool with defer_loading: counted only if a tool_reference names it */
    const char *name;
    long tokens;
};

struct scan {
    const unsigned char *p, *end, *start;
    int depth;
    const char *why; /* first error, NULL while the text is good */
    size_t at;       /* its byte offset */
    bool nomem;
    bool tag; /* a counted string may hold the subagent tag */
    struct summary *out;
    const char **refs; /* tool_reference names in the messages (arena strings) */
    size_t nrefs, caprefs;
    struct def_tool *defs;
    size_t ndefs, capdefs;
    size_t captools;
};

static int fail(struct scan *sc, const char *why) {
    if (!sc->why) {
        sc->why = why;
        sc->at = (size_t)(sc->p - sc->start);
    }
    return -1;
}

static int nomem(struct scan *sc) {
    sc->nomem = true;
    return fail(sc, "out of memory");
}

/* arr (of *cap items of `size` bytes, n used) with room for one more: arr itself, or its
 * reallocation (the caller stores it), or NULL when out of memory (arr is then unchanged). */
static void *grow(struct scan *sc, void *arr, size_t n, size_t *cap, size_t size) {
    if (n < *cap) return arr;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(arr, c * size);
    if (!p) {
        nomem(sc);
        return NULL;
    }
    *cap = c;
    return p;
}

/* cJSON's white space: every byte <= 32. */
static void ws(struct scan *sc) {
    while (sc->p < sc->end && *sc->p <= 32)
        sc->p++;
}

static bool at(struct scan *sc, unsigned char c) {
    return sc->p < sc->end && *sc->p == c;
}

/* The rest of a string, from the backslash at p, read as cJSON reads it; returns its closing
 * quote, or NULL when cJSON refuses it. Only for a \\u whose four digits are not all hex: cJSON
 * reads those as U+0000 (its C string ends there, so nothing after counts) and takes the six
 * bytes whatever they are, while it found the string's end by skipping the byte after every
 * backslash, so a quote or backslash among the four puts the two readings out of step. */
static const unsigned char *cjson_tail(const unsigned char *p, const unsigned char *end) {
    const unsigned char *q = p; /* the end as cJSON finds it */
    while (q < end && *q != '"') {
        if (*q == '\\' && ++q >= end) return NULL;
        q++;
    }
    if (q >= end) return NULL;
    unsigned cp;
    while (p < q) { /* its escapes, as cJSON checks them */
        if (*p != '\\') {
            p++;
            continue;
        }
        if (json_escape_char(p[1])) {
            p += 2;
            continue;
        }
        size_t len = p[1] == 'u' ? json_unicode(p, q, &cp) : 0;
        if (!len) return NULL;
        p += len;
    }
    return q;
}

/* Does the text at p, decoded, start with the rest of the subagent tag (after its '<')? Only
 * \\uXXXX escapes can spell one of its characters. */
static bool tag_rest(const unsigned char *p, const unsigned char *end) {
    static const char rest[] = "CCR-SUBAGENT-MODEL>";
    for (const char *r = rest; *r; r++) {
        unsigned cp;
        if (p < end && *p == (unsigned char)*r) {
            p++;
        } else if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' && json_hex4(p + 2, &cp) == 0 &&
                   cp == (unsigned char)*r) {
            p += 6;
        } else {
            return false;
        }
    }
    return true;
}

/* The decoded text of a string as it is read: its token count and, when asked, its bytes. */
struct text {
    long t;          /* in TOKENS_UNIT-ths */
    unsigned prev;   /* class of the last byte counted */
    bool counting;   /* false after a NUL: the tree's C string ends there */
    char *dst;       /* NULL, or where the decoded bytes go (NUL-terminated) */
    size_t cap, len; /* dst's size and the bytes written */
    bool fits;       /* false when dst was too small */
};

static void text_byte(struct text *x, unsigned char c) {
    if (!x->counting) return;
    if (c == 0) {
        x->counting = false;
        return;
    }
    unsigned k = tokens_class[c];
    x->t += tokens_step[x->prev][k];
    x->prev = k;
    if (x->dst) {
        if (x->len + 1 < x->cap)
            x->dst[x->len++] = (char)c;
        else
            x->fits = false;
    }
}

/* Read the string at sc->p (its opening quote) into x. */
static int string_text(struct scan *sc, struct text *x) {
    const unsigned char *p = sc->p + 1, *end = sc->end;
    for (;;) {
        /* the plain bytes: two table loads and an add each while counting */
        if (x->counting && !x->dst) {
            long t = x->t;
            unsigned prev = x->prev;
            /* four bytes a step: the classes that stop the loop are the ones >= TOKC_N (8), so
             * one test of bit 3 of their OR covers the four */
            while (end - p >= 4) {
                unsigned k0 = tokens_rawclass[p[0]], k1 = tokens_rawclass[p[1]],
                         k2 = tokens_rawclass[p[2]], k3 = tokens_rawclass[p[3]];
                if ((k0 | k1 | k2 | k3) & TOKC_N) break;
                t += tokens_step4(prev, k0, k1, k2, k3);
                prev = k3;
                p += 4;
            }
            while (p < end) {
                unsigned k = tokens_rawclass[*p];
                if (k >= TOKC_N) break;
                t += tokens_step[prev][k];
                prev = k;
                p++;
            }
            x->t = t;
            x->prev = prev;
        } else if (!x->counting) {
            while (p < end && tokens_rawclass[*p] < TOKC_N)
                p++;
        } else {
            while (p < end && tokens_rawclass[*p] < TOKC_N)
                text_byte(x, *p++);
        }
        if (p >= end) {
            sc->p = p;
            return fail(sc, "a string is not terminated");
        }
        unsigned c = *p;
        if (c == '"') break;
        if (c == '<') { /* the tree path removes the subagent tag from counted text */
            if (x->counting && tag_rest(p + 1, end)) sc->tag = true;
            text_byte(x, '<');
            p++;
            continue;
        }
        if (c == 0) { /* a raw NUL inside the string */
            text_byte(x, 0);
            p++;
            continue;
        }
        /* a backslash */
        if (p + 1 >= end) {
            sc->p = p;
            return fail(sc, "a string is not terminated");
        }
        unsigned char simple = json_escape_char(p[1]);
        if (simple) {
            text_byte(x, simple);
            p += 2;
            continue;
        }
        unsigned e = p[1];
        unsigned cp, lo;
        if (e != 'u' || end - p < 6) {
            sc->p = p;
            return fail(sc, "a string has an invalid escape");
        }
        if (json_hex4(p + 2, &cp) != 0) { /* cJSON reads it as U+0000: see cjson_tail */
            text_byte(x, 0);
            const unsigned char *q = cjson_tail(p, end);
            if (!q) {
                sc->p = p;
                return fail(sc, "a string has an invalid \\u escape");
            }
            p = q;
            break;
        }
        p += 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            sc->p = p - 6;
            return fail(sc, "a string has a lone low surrogate (\\uDC00-\\uDFFF)");
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || json_hex4(p + 2, &lo) != 0 ||
                lo < 0xDC00 || lo > 0xDFFF) {
                sc->p = p - 6;
                return fail(sc, "a string has a high surrogate without its low half");
            }
            cp = 0x10000 + (((cp & 0x3FF) << 10) | (lo & 0x3FF));
            p += 6;
        }
        if (cp == '<' && x->counting && tag_rest(p, end)) sc->tag = true;
        /* as UTF-8, the bytes the tree would hold */
        if (cp < 0x80) {
            text_byte(x, (unsigned char)cp);
        } else if (cp < 0x800) {
            text_byte(x, (unsigned char)(0xC0 | (cp >> 6)));
            text_byte(x, (unsigned char)(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            text_byte(x, (unsigned char)(0xE0 | (cp >> 12)));
            text_byte(x, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
            text_byte(x, (unsigned char)(0x80 | (cp & 0x3F)));
        } else {
            text_byte(x, (unsigned char)(0xF0 | (cp >> 18)));
            text_byte(x, (unsigned char)(0x80 | ((cp >> 12) & 0x3F)));
            text_byte(x, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
            text_byte(x, (unsigned char)(0x80 | (cp & 0x3F)));
        }
    }
    if (x->dst) x->dst[x->len] = '\0';
    sc->p = p + 1;
    return 0;
}

/* A string at sc->p: its tokens added to *tok (when tok) and nothing else kept. */
static int string_tokens(struct scan *sc, long *tok) {
    struct text x = {.prev = TOKC_END, .counting = tok != NULL, .fits = true};
    if (string_text(sc, &x) != 0) return -1;
    if (tok) *tok += tokens_round(x.t);
    return 0;
}

/* A string at sc->p decoded into buf (cap bytes); *fits false when it was longer. */
static int string_small(struct scan *sc, char *buf, size_t cap, bool *fits) {
    struct text x = {.prev = TOKC_END, .counting = true, .dst = buf, .cap = cap, .fits = true};
    if (string_text(sc, &x) != 0) return -1;
    *fits = x.fits;
    return 0;
}

/* A string at sc->p decoded into the summary's arena (*out), its tokens added to *tok. */
static int string_keep(struct scan *sc, const char **out, long *tok) {
    char small[256];
    const unsigned char *start = sc->p;
    struct text x = {
        .prev = TOKC_END, .counting = true, .dst = small, .cap = sizeof small, .fits = true};
    if (string_text(sc, &x) != 0) return -1;
    if (!x.fits) { /* longer than `small`: again, into room the size of its raw text */
        size_t cap = (size_t)(sc->p - start);
        x = (struct text){.prev = TOKC_END, .counting = true, .cap = cap, .fits = true};
        if (!(x.dst = arena_alloc(&sc->out->arena, cap))) return nomem(sc);
        sc->p = start;
        if (string_text(sc, &x) != 0) return -1;
        *out = x.dst;
    } else {
        char *d = arena_alloc(&sc->out->arena, x.len + 1);
        if (!d) return nomem(sc);
        memcpy(d, small, x.len + 1);
        *out = d;
    }
    if (tok) *tok += tokens_round(x.t);
    return 0;
}

/* A number as cJSON (1.7.15 as Debian ships it) reads it (json_number). */
static int number(struct scan *sc, double *out) {
    long used = json_number(sc->p, sc->end, out);
    if (used < 0) return nomem(sc);
    if (used == 0) return fail(sc, "a number is malformed");
    sc->p += used;
    return 0;
}

static int literal(struct scan *sc, const char *word, size_t n) {
    if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, word, n) != 0)
        return fail(sc, "expected a JSON value");
    sc->p += n;
    return 0;
}

static int open_container(struct scan *sc) {
    if (sc->depth >= NESTING_LIMIT) return fail(sc, "the JSON is nested more than 1000 deep");
    sc->depth++;
    sc->p++;
    ws(sc);
    return 0;
}

/* The step between a container's items: returns 1 with sc->p at the next item, 0 when the
 * container closed at `close`, -1 on error. `i` counts the items seen (start at 0). */
static int next_item(struct scan *sc, size_t *i, unsigned char close, const char *why) {
    ws(sc);
    if (at(sc, close)) {
        sc->p++;
        sc->depth--;
        return 0;
    }
    if (*i > 0) {
        if (!at(sc, ',')) return fail(sc, why);
        sc->p++;
        ws(sc);
    }
    ++*i;
    return 1;
}

/* Iterate an array opened by open_container: 1 with sc->p at the next element, 0 when the
 * array closed, -1 on error. */
static int array_next(struct scan *sc, size_t *i) {
    return next_item(sc, i, ']', "expected ',' or ']' in an array");
}

/* Iterate an object opened by open_container: returns 1 with sc->p at the next member's value,
 * 0 when the object closed, -1 on error. With `key` (KEY_MAX bytes) the key is decoded there (""
 * when longer: no name compared here is); without, it counts in *tok as json_tokens counts a key
 * (when tok). */
static int object_next(struct scan *sc, size_t *i, char *key, long *tok) {
    int rc = next_item(sc, i, '}', "expected ',' or '}' in an object");
    if (rc != 1) return rc;
    if (!at(sc, '"')) return fail(sc, "expected a string key in an object");
    if (key) {
        bool fits;
        if (string_small(sc, key, KEY_MAX, &fits) != 0) return -1;
        if (!fits) key[0] = '\0';
    } else {
        if (tok) *tok += 2;
        if (string_tokens(sc, tok) != 0) return -1;
    }
    ws(sc);
    if (!at(sc, ':')) return fail(sc, "expected ':' after an object key");
    sc->p++;
    ws(sc);
    return 1;
}

/* Any value at sc->p: skipped (tok NULL) or counted as tokens.c's json_tokens counts it (a
 * container 1, a key 2 + its text, a string 1 + its text, a number 1-3, a literal 1). */
static int value(struct scan *sc, long *tok) {
    if (sc->p >= sc->end) return fail(sc, "expected a JSON value");
    size_t i = 0;
    int rc;
    switch (*sc->p) {
    case '"':
        if (tok) *tok += 1;
        return string_tokens(sc, tok);
    case '{':
        if (tok) *tok += 1;
        if (open_container(sc) != 0) return -1;
        while ((rc = object_next(sc, &i, NULL, tok)) == 1)
            if (value(sc, tok) != 0) return -1;
        return rc;
    case '[':
        if (tok) *tok += 1;
        if (open_container(sc) != 0) return -1;
        while ((rc = array_next(sc, &i)) == 1)
            if (value(sc, tok) != 0) return -1;
        return rc;
    case 't':
        if (tok) *tok += 1;
        return literal(sc, "true", 4);
    case 'f':
        if (tok) *tok += 1;
        return literal(sc, "false", 5);
    case 'n':
        if (tok) *tok += 1;
        return literal(sc, "null", 4);
    default:
        if (*sc->p == '-' || (*sc->p >= '0' && *sc->p <= '9')) {
            double d;
            if (number(sc, &d) != 0) return -1;
            if (d < 0) d = -d;
            if (tok) *tok += d < 1000 ? 1 : d < 1e6 ? 2 : 3;
            return 0;
        }
        return fail(sc, "expected a JSON value");
    }
}

/* Skip any value. */
static int skip(struct scan *sc) {
    return value(sc, NULL);
}

/* A string value read by summary_build through cJSON_GetStringValue: kept when it is a string,
 * skipped otherwise. */
static int opt_string_keep(struct scan *sc, const char **out, long *tok) {
    return at(sc, '"') ? string_keep(sc, out, tok) : skip(sc);
}

/* The same for a string only counted: its tokens added to *tok when it is a string. */
static int opt_string_tokens(struct scan *sc, long *tok) {
    return at(sc, '"') ? string_tokens(sc, tok) : skip(sc);
}

static int opt_string_small(struct scan *sc, char *buf, size_t cap) {
    bool fits = true;
    buf[0] = '\0';
    if (!at(sc, '"')) return skip(sc);
    if (string_small(sc, buf, cap, &fits) != 0) return -1;
    if (!fits) buf[0] = '\0';
    return 0;
}

/* Which of a fixed set of keys an object member is, the first time it is seen: -1 for other
 * keys and for repeats (cJSON finds the first of duplicate keys). */
static int pick(const char *key, const char *const *names, unsigned *seen) {
    for (int i = 0; names[i]; i++)
        if (strcmp(key, names[i]) == 0) {
            if (*seen & (1u << i)) return -1;
            *seen |= 1u << i;
            return i;
        }
    return -1;
}

/* ---------- the request's shapes ---------- */

/* The context of a content value: its level among a message's blocks decides what is noted. */
enum level {
    LV_OTHER,   /* system, a document's content, deeper: tokens only */
    LV_MESSAGE, /* a message's content: its blocks' images */
    LV_INNER    /* a message block's content: images (for tool_result) and tool references */
};

static int content(struct scan *sc, enum level lv, long *tok, bool *image);

/* A document block's source: {type, data, content}. */
struct source {
    char type[KEY_MAX];
    bool data_string, has_content;
    long data, content;
};

static int source(struct scan *sc, struct source *s) {
    static const char *const names[] = {"type", "data", "content", NULL};
    unsigned seen = 0;
    size_t i = 0;
    char key[KEY_MAX];
    int rc;
    if (!at(sc, '{')) return skip(sc);
    if (open_container(sc) != 0) return -1;
    while ((rc = object_next(sc, &i, key, NULL)) == 1) {
        switch (pick(key, names, &seen)) {
        case 0:
            rc = opt_string_small(sc, s->type, sizeof s->type);
            break;
        case 1:
            s->data_string = at(sc, '"');
            rc = s->data_string ? string_tokens(sc, &s->data) : skip(sc);
            break;
        case 2:
            s->has_content = true;
            rc = content(sc, LV_OTHER, &s->content, NULL);
            break;
        default:
            rc = skip(sc);
        }
        if (rc != 0) return -1;
    }
    return rc;
}

/* A tool_reference name seen in a message block's content. */
static int add_ref(struct scan *sc, const char *name) {
    const char **refs = grow(sc, sc->refs, sc->nrefs, &sc->caprefs, sizeof *sc->refs);
    if (!refs) return -1;
    sc->refs = refs;
    sc->refs[sc->nrefs++] = name;
    return 0;
}

/* One element of a content array, counted as tokens.c's block_tokens; *image set for an image
 * block (and, at LV_MESSAGE, a tool_result holding one). */
static int block(struct scan *sc, enum level lv, long *tok, bool *image) {
    if (at(sc, '"')) return string_tokens(sc, tok);
    if (!at(sc, '{')) return skip(sc);
    enum { K_TYPE, K_TEXT, K_THINKING, K_NAME, K_INPUT, K_CONTENT, K_TOOL_NAME, K_SOURCE };
    static const char *const names[] = {"type",    "text",      "thinking", "name", "input",
                                        "content", "tool_name", "source",   NULL};
    unsigned seen = 0;
    size_t i = 0;
    char key[KEY_MAX], type[KEY_MAX] = "";
    long text = 0, thinking = 0, name = 0, input = 0, inner = 0, tool_name = 0;
    bool inner_image = false;
    const char *ref = NULL;
    struct source src = {.type = ""};
    int rc;
    if (open_container(sc) != 0) return -1;
    while ((rc = object_next(sc, &i, key, NULL)) == 1) {
        switch (pick(key, names, &seen)) {
        case K_TYPE:
            rc = opt_string_small(sc, type, sizeof type);
            break;
        case K_TEXT:
            rc = opt_string_tokens(sc, &text);
            break;
        case K_THINKING:
            rc = opt_string_tokens(sc, &thinking);
            break;
        case K_NAME:
            rc = opt_string_tokens(sc, &name);
            break;
        case K_INPUT:
            rc = value(sc, &input);
            break;
        case K_CONTENT:
            rc = content(sc, lv == LV_MESSAGE ? LV_INNER : LV_OTHER, &inner, &inner_image);
            break;
        case K_TOOL_NAME:
            if (lv == LV_INNER)
                rc = opt_string_keep(sc, &ref, &tool_name);
            else
                rc = opt_string_tokens(sc, &tool_name);
            break;
        case K_SOURCE:
            rc = source(sc, &src);
            break;
        default:
            rc = skip(sc);
        }
        if (rc != 0) return -1;
    }
    if (rc != 0) return -1;

    long t = TOKENS_FRAME;
    if (strcmp(type, "text") == 0)
        t += text;
    else if (strcmp(type, "thinking") == 0)
        t += thinking;
    else if (strcmp(type, "tool_use") == 0 || strcmp(type, "server_tool_use") == 0)
        t += name + input;
    else if (strcmp(type, "tool_result") == 0 || strcmp(type, "web_search_tool_result") == 0)
        t += inner;
    else if (strcmp(type, "tool_reference") == 0)
        t += tool_name;
    else if (strcmp(type, "image") == 0)
        t += TOKENS_IMAGE;
    else if (strcmp(type, "document") == 0) {
        if (src.data_string && strcmp(src.type, "text") == 0)
            t += src.data;
        else if (src.has_content)
            t += src.content;
        else
            t += TOKENS_DOCUMENT;
    }
    *tok += t;

    if (image && lv != LV_OTHER)
        *image |= strcmp(type, "image") == 0 ||
                  (lv == LV_MESSAGE && inner_image && strcmp(type, "tool_result") == 0);
    if (lv == LV_INNER && ref && strcmp(type, "tool_reference") == 0) return add_ref(sc, ref);
    return 0;
}

/* A content value (tokens.c's content_tokens): a string, an array of blocks, or nothing. */
static int content(struct scan *sc, enum level lv, long *tok, bool *image) {
    if (at(sc, '"')) return string_tokens(sc, tok);
    if (!at(sc, '[')) return skip(sc);
    size_t i = 0;
    int rc;
    bool img = false;
    if (open_container(sc) != 0) return -1;
    while ((rc = array_next(sc, &i)) == 1)
        if (block(sc, lv, tok, &img) != 0) return -1;
    /* only an array content carries images or references (summary.c's content_has_image) */
    if (image) *image |= img;
    return rc;
}

/* One element of "messages": framing, and its content; *user_image is set for a role:"user"
 * message (the last one seen wins: the last user turn). */
static int message(struct scan *sc, long *tok, bool *user_image) {
    *tok += TOKENS_FRAME;
    if (!at(sc, '{')) return skip(sc);
    static const char *const names[] = {"role", "content", NULL};
    unsigned seen = 0;
    size_t i = 0;
    char key[KEY_MAX], role[KEY_MAX] = "";
    bool image = false;
    int rc;
    if (open_container(sc) != 0) return -1;
    while ((rc = object_next(sc, &i, key, NULL)) == 1) {
        switch (pick(key, names, &seen)) {
        case 0:
            rc = opt_string_small(sc, role, sizeof role);
            break;
        case 1:
            rc = content(sc, LV_MESSAGE, tok, &image);
            break;
        default:
            rc = skip(sc);
        }
        if (rc != 0) return -1;
    }
    if (rc == 0 && strcmp(role, "user") == 0) *user_image = image;
    return rc;
}

/* One element of "tools": its name for the summary, its definition's tokens. */
static int tool(struct scan *sc, long *tok, bool *any_tool) {
    if (!at(sc, '{')) return skip(sc);
    enum { K_TYPE, K_NAME, K_DESC, K_SCHEMA, K_DEFER };
    static const char *const names[] = {"type",         "name",          "description",
                                        "input_schema", "defer_loading", NULL};
    unsigned seen = 0;
    size_t i = 0;
    char key[KEY_MAX], type[KEY_MAX] = "";
    const char *name = NULL;
    long t = TOKENS_FRAME;
    bool defer = false;
    int rc;
    if (open_container(sc) != 0) return -1;
    while ((rc = object_next(sc, &i, key, NULL)) == 1) {
        switch (pick(key, names, &seen)) {
        case K_TYPE:
            /* "web_search..." is longer than KEY_MAX only past its prefix: keep the prefix */
            if (at(sc, '"')) {
                bool fits;
                rc = string_small(sc, type, sizeof type, &fits);
            } else {
                rc = skip(sc);
            }
            break;
        case K_NAME:
            rc = opt_string_keep(sc, &name, &t);
            break;
        case K_DESC:
            rc = opt_string_tokens(sc, &t);
            break;
        case K_SCHEMA:
            rc = value(sc, &t);
            break;
        case K_DEFER:
            defer = at(sc, 't');
            rc = skip(sc);
            break;
        default:
            rc = skip(sc);
        }
        if (rc != 0) return -1;
    }
    if (rc != 0) return -1;
    struct summary *out = sc->out;
    if (strncmp(type, "web_search", 10) == 0) out->web_search = true;
    if (name) {
        const char **tools = grow(sc, out->tools, out->ntools, &sc->captools, sizeof *out->tools);
        if (!tools) return -1;
        out->tools = tools;
        out->tools[out->ntools++] = name;
    }
    if (!defer) {
        *tok += t;
        *any_tool = true;
    } else if (name) { /* decided at the end, once every tool_reference is known */
        struct def_tool *defs = grow(sc, sc->defs, sc->ndefs, &sc->capdefs, sizeof *sc->defs);
        if (!defs) return -1;
        sc->defs = defs;
        sc->defs[sc->ndefs++] = (struct def_tool){name, t};
    }
    return 0;
}

/* "thinking": {type, budget_tokens}. */
static int thinking(struct scan *sc) {
    if (!at(sc, '{')) return skip(sc);
    static const char *const names[] = {"type", "budget_tokens", NULL};
    unsigned seen = 0;
    size_t i = 0;
    char key[KEY_MAX];
    int rc;
    if (open_container(sc) != 0) return -1;
    while ((rc = object_next(sc, &i, key, NULL)) == 1) {
        switch (pick(key, names, &seen)) {
        case 0:
            rc = opt_string_keep(sc, &sc->out->thinking_type, NULL);
            break;
        case 1:
            if (sc->p < sc->end && (*sc->p == '-' || (*sc->p >= '0' && *sc->p <= '9'))) {
                double d;
                rc = number(sc, &d);
                if (rc == 0 && d >= 0 && d < 1e12) sc->out->thinking_budget = (long)d;
            } else {
                rc = skip(sc);
            }
            break;
        default:
            rc = skip(sc);
        }
        if (rc != 0) return -1;
    }
    return rc;
}

/* An object of which one string member is read ("output_config".effort, "metadata".user_id). */
static int one_string_member(struct scan *sc, const char *name, const char **out) {
    if (!at(sc, '{')) return skip(sc);
    const char *const names[] = {name, NULL};
    unsigned seen = 0;
    size_t i = 0;
    char key[KEY_MAX];
    int rc;
    if (open_container(sc) != 0) return -1;
    while ((rc = object_next(sc, &i, key, NULL)) == 1)
        if ((pick(key, names, &seen) == 0 ? opt_string_keep(sc, out, NULL) : skip(sc)) != 0)
            return -1;
    return rc;
}

int summary_scan(const char *raw, size_t n, const struct http_hdrs *headers, const char *path,
                 struct summary *out, struct err *err) {
    summary_begin(out, headers, path);
    if (n == 0)
        return err_set(err, ERR_INVALID,
                       "the request body is empty: send an Anthropic Messages request");

    struct scan sc = {.p = (const unsigned char *)raw,
                      .end = (const unsigned char *)raw + n,
                      .start = (const unsigned char *)raw,
                      .out = out};
    if (n >= 3 && memcmp(raw, "\xEF\xBB\xBF", 3) == 0) sc.p += 3; /* cJSON skips a UTF-8 BOM */
    enum { K_MODEL, K_STREAM, K_THINKING, K_OUTPUT, K_TOOLS, K_SYSTEM, K_MESSAGES, K_METADATA };
    static const char *const names[] = {"model",         "stream",   "thinking",
                                        "output_config", "tools",    "system",
                                        "messages",      "metadata", NULL};
    unsigned seen = 0;
    bool model_string = false, messages_array = false, user_image = false, any_tool = false;
    const char *uid = NULL;
    long tok = 0;
    size_t i = 0, k;
    char key[KEY_MAX];
    int rc;
    ws(&sc);
    if (!at(&sc, '{')) {
        if (skip(&sc) != 0) goto invalid;
        summary_check_request(false, false, false, err);
        goto out;
    }
    if (open_container(&sc) != 0) goto invalid;
    while ((rc = object_next(&sc, &i, key, NULL)) == 1) {
        switch (pick(key, names, &seen)) {
        case K_MODEL:
            model_string = at(&sc, '"');
            rc = opt_string_keep(&sc, &out->model, NULL);
            break;
        case K_STREAM:
            out->stream = at(&sc, 't');
            rc = skip(&sc);
            break;
        case K_THINKING:
            rc = thinking(&sc);
            break;
        case K_OUTPUT:
            rc = one_string_member(&sc, "effort", &out->effort);
            break;
        case K_TOOLS:
            if (!at(&sc, '[')) {
                rc = skip(&sc);
                break;
            }
            if ((rc = open_container(&sc)) != 0) break;
            k = 0;
            while ((rc = array_next(&sc, &k)) == 1)
                if ((rc = tool(&sc, &tok, &any_tool)) != 0) break;
            break;
        case K_SYSTEM:
            rc = content(&sc, LV_OTHER, &tok, NULL);
            break;
        case K_MESSAGES:
            if (!at(&sc, '[')) {
                rc = skip(&sc);
                break;
            }
            messages_array = true;
            if ((rc = open_container(&sc)) != 0) break;
            k = 0;
            while ((rc = array_next(&sc, &k)) == 1)
                if ((rc = message(&sc, &tok, &user_image)) != 0) break;
            break;
        case K_METADATA:
            rc = one_string_member(&sc, "user_id", &uid);
            break;
        default:
            rc = skip(&sc);
        }
        if (rc != 0) break;
    }
    if (rc != 0) goto invalid;
    if (sc.tag) { /* the tree path decides, and removes it */
        free(sc.refs);
        free(sc.defs);
        summary_free(out);
        summary_begin(out, headers, path);
        return 1;
    }

    if (summary_check_request(true, model_string, messages_array, err) != 0) goto out;
    out->images = user_image;
    for (size_t d = 0; d < sc.ndefs; d++)
        for (size_t r = 0; r < sc.nrefs; r++)
            if (strcmp(sc.defs[d].name, sc.refs[r]) == 0) {
                tok += sc.defs[d].tokens;
                any_tool = true;
                break;
            }
    if (any_tool) tok += TOKENS_TOOL_PROMPT;
    out->tokens = tok;
    free(sc.refs);
    free(sc.defs);
    return summary_finish(out, uid, err);

invalid:
    if (sc.nomem)
        err_set(err, ERR_NOMEM, "out of memory while reading the request body");
    else
        err_set(err, ERR_INVALID, "the request body is not valid JSON: %s (near byte %zu)", sc.why,
                sc.at);
out:
    free(sc.refs);
    free(sc.defs);
    summary_free(out);
    return -1;
}
