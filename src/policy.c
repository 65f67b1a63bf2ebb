/* policy: route(req, config) in sandboxed Lua 5.4 states (see policy.h and DESIGN.md "The
 * policy contract").
 *
 * A policy holds two independent Lua states: the built-in rules (lua/router.lua, compiled in)
 * and, when there is one, the user's custom router. Separate states mean a custom script can
 * neither see nor break the built-in rules (globals, string library, memory). Each state has:
 *   - a sandbox: base functions without dofile/loadfile/collectgarbage, `load` for text chunks
 *     only, string/table/math/utf8/coroutine, os.time/clock/date; no io, debug, package, C
 *     modules; `require` finds lua/lib modules (embedded) and, for a custom router, .lua files
 *     next to the script;
 *   - a memory cap: a counting lua_Alloc refuses to grow the state past POLICY_MAX_MEMORY_MB;
 *   - an instruction budget per call: a count hook raises an error once POLICY_MAX_INSTRUCTIONS
 *     are spent, and keeps raising at every instruction so that pcall cannot swallow it;
 *   - `config`: the configuration as read-only tables, built once when the state is created;
 *   - `req`: built per call from the summary as read-only tables; `req.body` is a lazy view of
 *     the cJSON body (userdata), valid only during the call that received it.
 * A custom router's failure at run time (error, budget, memory, invalid target) is logged with
 * file:line and the built-in rules decide. The policy is used by one event loop (not
 * thread-safe); the states persist between calls. */
#include "policy.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "embedded.h"
#include "jsonparse.h"
#include "models.h"

#define DEFAULT_MAX_INSTRUCTIONS 10000000L
#define DEFAULT_MAX_MEMORY_MB 32L
#define HOOK_STEP 1000
#define SCRIPT_MAX_BYTES (4u << 20)
#define RO_MARK "ccrelay.readonly"
#define BODY_MT "ccrelay.body"
#define LOADED_KEY "ccrelay.loaded"
#define GLOBALS_KEY "ccrelay.globals" /* _G as the script's top level left it */

struct lstate {
    lua_State *L;
    size_t used, limit; /* bytes held by the state / cap */
    long max_instr;     /* per call */
    long count;         /* instructions spent in this call (in HOOK_STEP units) */
    bool oom;           /* the allocator refused a block during this call */
    int route_ref, config_ref;
    char *name;        /* display name: the script's path or "lua/router.lua" */
    char *dir;         /* directory searched by require (custom router), or NULL */
    char where[LUA_IDSIZE + 16]; /* last sampled position "file:line" */
    char route_where[LUA_IDSIZE + 16]; /* where route() is defined */
    unsigned long body_gen;            /* views of another generation are stale */
    bool body_live;
    struct policy_body *body;          /* during route(): the request body (borrowed) */
    const struct config *cfg;
    const struct logger *lg;
    char **files; /* files this state was loaded from (script + required files), owned */
    size_t nfiles;
};

struct policy {
    const struct config *cfg;
    const struct logger *lg;
    struct lstate builtin;
    struct lstate *custom; /* NULL when there is no custom router */
};

/* ---------- limits ---------- */

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    struct lstate *ls = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        ls->used -= old;
        return NULL;
    }
    if (nsize > old && ls->used + (nsize - old) > ls->limit) {
        ls->oom = true;
        return NULL;
    }
    void *np = realloc(ptr, nsize);
    if (!np) {
        ls->oom = true;
        return NULL;
    }
    ls->used = ls->used - old + nsize;
    return np;
}

static struct lstate *lstate_of(lua_State *L) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

static void count_hook(lua_State *L, lua_Debug *ar) {
    struct lstate *ls = lstate_of(L);
    if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
        snprintf(ls->where, sizeof ls->where, "%s:%d", ar->short_src, ar->currentline);
    ls->count += HOOK_STEP;
    if (ls->count >= ls->max_instr) {
        /* From now on every instruction fails, so a pcall loop cannot outlive the budget. */
        lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
        lua_pushfstring(L, "%s: instruction budget of %d exceeded (endless loop?)", ls->where,
                        (int)(ls->max_instr > 2000000000L ? 2000000000L : ls->max_instr));
        lua_error(L);
    }
}

static void limits_arm(struct lstate *ls) {
    ls->count = 0;
    ls->oom = false;
    ls->where[0] = '\0';
    long step = ls->max_instr < HOOK_STEP ? ls->max_instr : HOOK_STEP;
    lua_sethook(ls->L, count_hook, LUA_MASKCOUNT, (int)(step > 0 ? step : 1));
}

static void limits_disarm(struct lstate *ls) { lua_sethook(ls->L, NULL, 0, 0); }

/* Does msg start with "something:123:"? */
static bool has_position(const char *msg) {
    const char *c = msg;
    while (*c && *c != ':' && *c != '\n') c++;
    if (*c != ':' || c == msg || !(c[1] >= '0' && c[1] <= '9')) return false;
    c++;
    while (*c >= '0' && *c <= '9') c++;
    return *c == ':';
}

/* Message handler: make sure the message says file:line. */
static int msgh(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            if (has_position(msg))
                lua_pushstring(L, msg);
            else
                lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, msg);
            return 1;
        }
    }
    lua_pushstring(L, msg);
    return 1;
}

/* The reason a call failed, with file:line. */
static void call_error(struct lstate *ls, int status, char *why, size_t n) {
    lua_State *L = ls->L;
    /* Lua calls no message handler for memory errors: the position is the one the count hook
     * sampled last (every HOOK_STEP instructions), else where route() is defined. */
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (status == LUA_ERRMEM || (ls->oom && msg && strstr(msg, "not enough memory")))
        snprintf(why, n, "%s: memory limit of %zu MiB reached",
                 ls->where[0] ? ls->where : ls->route_where[0] ? ls->route_where : ls->name,
                 ls->limit >> 20);
    else
        snprintf(why, n, "%s", msg ? msg : "error");
}

/* ---------- read-only tables ---------- */

static int ro_newindex(lua_State *L) {
    return luaL_error(L, "attempt to modify a read-only table (req and config are read-only)");
}

static int ro_len(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, lua_upvalueindex(1)));
    return 1;
}

static int ro_next(lua_State *L) {
    lua_settop(L, 2);
    if (lua_next(L, lua_upvalueindex(1))) return 2;
    lua_pushnil(L);
    return 1;
}

static int ro_pairs(lua_State *L) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, ro_next, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* Replace the table on top of the stack with a read-only proxy of it. */
static void make_readonly(lua_State *L) {
    int real = lua_gettop(L);
    lua_createtable(L, 0, 0);     /* proxy */
    lua_createtable(L, 0, 7);     /* its metatable */
    lua_pushvalue(L, real);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ro_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, real);
    lua_pushcclosure(L, ro_len, 1);
    lua_setfield(L, -2, "__len");
    lua_pushvalue(L, real);
    lua_pushcclosure(L, ro_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, RO_MARK);
    lua_setmetatable(L, -2);
    lua_replace(L, real);
}

/* If the table at idx is a read-only proxy, push its real table; else push the value itself. */
static void push_real(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TTABLE && lua_getmetatable(L, idx)) {
        lua_pushstring(L, RO_MARK);
        bool ro = lua_rawget(L, -2) == LUA_TBOOLEAN && lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (ro) {
            lua_pushstring(L, "__index");
            lua_rawget(L, -2);
            lua_remove(L, -2);
            return;
        }
        lua_pop(L, 1);
    }
    lua_pushvalue(L, idx);
}

static bool secret_key(const char *k) {
    return k && (strcasecmp(k, "api_key") == 0 || strcasecmp(k, "api_keys") == 0 ||
                 strcasecmp(k, "apikey") == 0 || strcasecmp(k, "authorization") == 0 ||
                 strcasecmp(k, "x-api-key") == 0 || strcasecmp(k, "proxy-authorization") == 0);
}

/* cJSON -> read-only Lua values (config). Keys that hold secrets become "<redacted>". */
static void push_json_copy(lua_State *L, const cJSON *v, int depth) {
    if (cJSON_IsString(v)) {
        lua_pushstring(L, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(lua_Integer)d && d > -9e15 && d < 9e15)
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, d);
    } else if (cJSON_IsBool(v)) {
        lua_pushboolean(L, cJSON_IsTrue(v));
    } else if ((cJSON_IsObject(v) || cJSON_IsArray(v)) && depth < 64) {
        bool arr = cJSON_IsArray(v);
        lua_createtable(L, arr ? cJSON_GetArraySize(v) : 0, arr ? 0 : cJSON_GetArraySize(v));
        lua_Integer i = 1;
        for (const cJSON *c = v->child; c; c = c->next) {
            if (cJSON_IsNull(c)) {
                i++;
                continue;
            }
            if (!arr && secret_key(c->string))
                lua_pushstring(L, "<redacted>");
            else
                push_json_copy(L, c, depth + 1);
            if (arr)
                lua_rawseti(L, -2, i++);
            else
                lua_setfield(L, -2, c->string);
        }
        make_readonly(L);
    } else {
        lua_pushnil(L);
    }
}

/* ---------- req.body: a lazy read-only view of the cJSON body ---------- */

struct body_view {
    const cJSON *node; /* NULL: the root, parsed from the raw text on first use */
    unsigned long gen;
};

static const cJSON *view_check(lua_State *L, int idx) {
    struct body_view *v = luaL_checkudata(L, idx, BODY_MT);
    struct lstate *ls = lstate_of(L);
    if (!ls->body_live || v->gen != ls->body_gen)
        luaL_error(L, "req.body used after its route() call returned (copy the values you need)");
    if (v->node) return v->node;
    struct policy_body *b = ls->body;
    if (!b->tree && b->raw) b->tree = json_parse(b->raw, b->raw_len);
    if (!b->tree) luaL_error(L, "req.body: the request body could not be read (out of memory)");
    return v->node = b->tree;
}

static void push_view(lua_State *L, const cJSON *node) {
    if (cJSON_IsString(node)) {
        lua_pushstring(L, node->valuestring);
    } else if (cJSON_IsNumber(node)) {
        double d = node->valuedouble;
        if (d == (double)(lua_Integer)d && d > -9e15 && d < 9e15)
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, d);
    } else if (cJSON_IsBool(node)) {
        lua_pushboolean(L, cJSON_IsTrue(node));
    } else if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
        struct body_view *v = lua_newuserdatauv(L, sizeof *v, 0);
        v->node = node;
        v->gen = lstate_of(L)->body_gen;
        luaL_setmetatable(L, BODY_MT);
    } else {
        lua_pushnil(L);
    }
}

static int body_index(lua_State *L) {
    const cJSON *n = view_check(L, 1);
    if (cJSON_IsArray(n)) {
        if (!lua_isinteger(L, 2)) return lua_pushnil(L), 1;
        lua_Integer i = lua_tointeger(L, 2);
        int size = cJSON_GetArraySize(n);
        push_view(L, i >= 1 && i <= size ? cJSON_GetArrayItem(n, (int)(i - 1)) : NULL);
    } else {
        const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
        push_view(L, k ? cJSON_GetObjectItemCaseSensitive(n, k) : NULL);
    }
    return 1;
}

static int body_len(lua_State *L) {
    const cJSON *n = view_check(L, 1);
    lua_pushinteger(L, cJSON_IsArray(n) ? cJSON_GetArraySize(n) : 0);
    return 1;
}

/* pairs(view): iterator closure over the children; upvalue 1: the view, 2: next child (light
 * userdata), 3: index. */
static int body_iter(lua_State *L) {
    view_check(L, lua_upvalueindex(1));
    const cJSON *c = lua_touserdata(L, lua_upvalueindex(2));
    if (!c) return lua_pushnil(L), 1;
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(3));
    const cJSON *parent = ((struct body_view *)lua_touserdata(L, lua_upvalueindex(1)))->node;
    if (cJSON_IsArray(parent))
        lua_pushinteger(L, i);
    else
        lua_pushstring(L, c->string ? c->string : "");
    push_view(L, c);
    lua_pushlightuserdata(L, (void *)c->next);
    lua_replace(L, lua_upvalueindex(2));
    lua_pushinteger(L, i + 1);
    lua_replace(L, lua_upvalueindex(3));
    return 2;
}

static int body_pairs(lua_State *L) {
    const cJSON *n = view_check(L, 1);
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, (void *)n->child);
    lua_pushinteger(L, 1);
    lua_pushcclosure(L, body_iter, 3);
    lua_pushnil(L);
    lua_pushnil(L);
    return 3;
}

static int body_newindex(lua_State *L) {
    return luaL_error(L, "req.body is read-only");
}

static int body_tostring(lua_State *L) {
    const cJSON *n = view_check(L, 1);
    lua_pushfstring(L, "req.body %s (%d items)", cJSON_IsArray(n) ? "array" : "object",
                    cJSON_GetArraySize(n));
    return 1;
}

static void body_metatable(lua_State *L) {
    luaL_newmetatable(L, BODY_MT);
    static const luaL_Reg m[] = {{"__index", body_index},     {"__len", body_len},
                                 {"__pairs", body_pairs},     {"__newindex", body_newindex},
                                 {"__tostring", body_tostring}, {NULL, NULL}};
    luaL_setfuncs(L, m, 0);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

/* ---------- targets ---------- */

static const struct cfg_provider *find_provider(const struct config *cfg, const char *name,
                                                size_t len) {
    for (size_t i = 0; cfg && i < cfg->nproviders; i++)
        if (strlen(cfg->providers[i].name) == len &&
            strncasecmp(cfg->providers[i].name, name, len) == 0)
            return &cfg->providers[i];
    return NULL;
}

/* Resolve "provider,model", "provider/model" (first segment a configured provider) or a
 * discovery id. On success *p is the provider and *model the configured spelling (borrowed
 * from the config) or, for a provider that lists no models, a pointer into `s` (*mlen says how
 * long). Returns 0, or -1 with a reason in why. */
static int resolve_target(const struct config *cfg, const char *s, const struct cfg_provider **p,
                          const char **model, size_t *mlen, char *why, size_t whylen) {
    while (*s == ' ' || *s == '\t') s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    const char *comma = memchr(s, ',', len), *slash = memchr(s, '/', len);
    const char *sep = comma ? comma : slash;
    if (sep) {
        size_t pl = (size_t)(sep - s);
        while (pl && (s[pl - 1] == ' ' || s[pl - 1] == '\t')) pl--;
        const struct cfg_provider *prov = find_provider(cfg, s, pl);
        if (prov) {
            const char *m = sep + 1;
            size_t ml = len - (size_t)(m - s);
            while (ml && (*m == ' ' || *m == '\t')) m++, ml--;
            if (!ml) {
                snprintf(why, whylen, "\"%.*s\" names no model", (int)len, s);
                return -1;
            }
            if (prov->nmodels == 0) { /* a provider without a model list takes any model */
                *p = prov, *model = m, *mlen = ml;
                return 0;
            }
            for (size_t i = 0; i < prov->nmodels; i++)
                if (strlen(prov->models[i]) == ml && strncasecmp(prov->models[i], m, ml) == 0) {
                    *p = prov, *model = prov->models[i], *mlen = ml;
                    return 0;
                }
            snprintf(why, whylen, "\"%.*s\": provider %s does not list model %.*s", (int)len, s,
                     prov->name, (int)ml, m);
            return -1;
        }
        if (comma) {
            snprintf(why, whylen, "\"%.*s\": no provider named %.*s in the config", (int)len, s,
                     (int)(comma - s), s);
            return -1;
        }
    }
    if (len < MODELS_ID_MAX) {
        char id[MODELS_ID_MAX];
        memcpy(id, s, len);
        id[len] = '\0';
        if (models_resolve(cfg, id, p, model) == 0) {
            *mlen = strlen(*model);
            return 0;
        }
    }
    snprintf(why, whylen, "\"%.*s\" is not \"provider,model\" with a configured provider", (int)len,
             s);
    return -1;
}

int policy_target(const struct config *cfg, const char *target, struct route_target *out,
                  struct err *err) {
    const char *m = NULL;
    size_t ml = 0;
    char why[384];
    out->provider = NULL;
    out->model = NULL;
    if (!target) return err_set(err, ERR_INVALID, "no target given");
    if (resolve_target(cfg, target, &out->provider, &m, &ml, why, sizeof why) != 0)
        return err_set(err, ERR_NOT_FOUND, "%s", why);
    if (!(out->model = strndup(m, ml))) return err_set(err, ERR_NOMEM, "out of memory");
    return 0;
}

/* ccrelay.resolve(s) -> "provider,model" in the configured spelling, or nil, reason. */
static int l_resolve(lua_State *L) {
    const char *s = luaL_checkstring(L, 1);
    struct lstate *ls = lstate_of(L);
    const struct cfg_provider *p = NULL;
    const char *m = NULL;
    size_t ml = 0;
    char why[256];
    if (resolve_target(ls->cfg, s, &p, &m, &ml, why, sizeof why) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    lua_pushfstring(L, "%s,", p->name);
    lua_pushlstring(L, m, ml);
    lua_concat(L, 2);
    return 1;
}

/* print / ccrelay.log: one info line per call, tagged with the script. */
static int l_print(lua_State *L) {
    struct lstate *ls = lstate_of(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        if (i > 1) luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    log_info(ls->lg, "policy %s: %s", ls->name, lua_tostring(L, -1));
    return 0;
}

/* ---------- sandbox ---------- */

/* Lua's pattern matcher is C code: the count hook never fires inside it, and a backtracking
 * pattern (".-.-.-.-b" on a long string) can hold the event loop for minutes. Each of
 * string.find/match/gmatch/gsub is charged its worst case against the instruction budget before
 * it runs: about n^q steps for q quantifiers on an n-byte subject, times n start positions when
 * the pattern is not anchored. Plain finds and patterns without quantifiers cost n. */
static double pattern_cost(const char *s, size_t sn, const char *p, size_t plen,
                           bool may_anchor) {
    double n = (double)sn;
    size_t i = 0;
    bool anchored = may_anchor && plen > 0 && p[0] == '^';
    if (anchored) i = 1;
    /* A literal prefix ("Primary working directory: ([^\n]+)") lets the matcher give up at
     * once wherever the prefix is absent: only the starts where it occurs pay the rest. */
    char lit[64];
    size_t nlit = 0;
    for (size_t k = i; k < plen && nlit < sizeof lit;) {
        size_t step = 1;
        char c = p[k];
        if (c == '%' && k + 1 < plen && !isalnum((unsigned char)p[k + 1])) c = p[k + 1], step = 2;
        else if (strchr("^$*+?.[]()%-", c)) break;
        if (k + step < plen && strchr("*+?-", p[k + step])) break;
        lit[nlit++] = c;
        k += step;
    }
    double starts = n + 1;
    if (nlit > 0 && !anchored) {
        starts = 0;
        for (const char *at = s, *end = s + sn; at < end;) {
            const char *hit = memmem(at, (size_t)(end - at), lit, nlit);
            if (!hit) break;
            starts++;
            at = hit + 1;
        }
    }
    double q = 0;
    while (i < plen) {
        char c = p[i];
        if (c == '(' || c == ')' || (c == '$' && i + 1 == plen)) {
            i++;
            continue;
        }
        size_t j = i + 1; /* end of one single-character class */
        if (c == '%' && i + 1 < plen) {
            char k = p[i + 1];
            if (k == 'b') { /* %bxy: balanced, linear */
                i += 4;
                continue;
            }
            if (k == 'f') { /* %f[set]: a frontier, no quantifier */
                j = i + 2;
                if (j < plen && p[j] == '[') {
                    j++;
                    if (j < plen && p[j] == '^') j++;
                    if (j < plen && p[j] == ']') j++;
                    while (j < plen && p[j] != ']') j += p[j] == '%' ? 2 : 1;
                    j++;
                }
                i = j;
                continue;
            }
            j = i + 2;
        } else if (c == '[') {
            j = i + 1;
            if (j < plen && p[j] == '^') j++;
            if (j < plen && p[j] == ']') j++;
            while (j < plen && p[j] != ']') j += p[j] == '%' ? 2 : 1;
            j++;
        }
        if (j < plen && (p[j] == '*' || p[j] == '+' || p[j] == '-' || p[j] == '?')) {
            q++;
            j++;
        }
        i = j;
    }
    double cost = anchored ? 1 : starts;
    for (double k = 0; k < q && cost < 1e18; k++) cost *= n + 1;
    return n + cost;
}

static int pcall_c(lua_State *L, lua_CFunction f) {
    lua_pushcfunction(L, f);
    return lua_pcall(L, 0, 0, 0);
}

static int l_pattern_guarded(lua_State *L) {
    int kind = (int)lua_tointeger(L, lua_upvalueindex(2)); /* 0 find, 1 match, 2 gmatch, 3 gsub */
    if (lua_type(L, 1) == LUA_TSTRING && lua_type(L, 2) == LUA_TSTRING) {
        size_t n, plen;
        lua_tolstring(L, 1, &n);
        const char *p = lua_tolstring(L, 2, &plen);
        bool plain = kind == 0 && lua_toboolean(L, 4);
        const char *subject = lua_tostring(L, 1);
        double cost = plain ? (double)n : pattern_cost(subject, n, p, plen, kind != 2);
        struct lstate *ls = lstate_of(L);
        double left = (double)(ls->max_instr - ls->count);
        if (cost >= left) {
            ls->count = ls->max_instr;
            lua_sethook(L, count_hook, LUA_MASKCOUNT, 1); /* every instruction fails from now */
            char msg[300];
            snprintf(msg, sizeof msg,
                     "this pattern on %zu bytes may take about %.3g steps, over the instruction "
                     "budget of %ld (anchor it with ^, use fewer quantifiers, or "
                     "string.find(s, p, 1, true) for a plain search)",
                     n, cost, ls->max_instr);
            luaL_where(L, 1);
            lua_pushstring(L, msg);
            lua_concat(L, 2);
            return lua_error(L);
        }
        ls->count += (long)cost;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* setmetatable without __gc: a finalizer runs whenever the collector decides, outside any
 * call's instruction budget (a `while true do end` there would stop the proxy). */
static int l_setmetatable(lua_State *L) {
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc metamethods are not allowed in a policy");
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* Globals do not carry from one request to the next: after each call, _G gets back the keys
 * and values it had when the script's top level finished (a value's own contents, like a
 * table's fields, are the script's business, as are upvalues). Runs with the memory cap
 * lifted: putting back a key the call removed may allocate. */
static int restore_globals(lua_State *L) {
    lua_pushglobaltable(L);                        /* 1: _G */
    lua_getfield(L, LUA_REGISTRYINDEX, GLOBALS_KEY); /* 2: snapshot */
    if (!lua_istable(L, 2)) return 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) { /* drop or reset what the call changed (existing keys only) */
        lua_pushvalue(L, -2);
        lua_rawget(L, 2); /* snapshot[k] */
        if (!lua_rawequal(L, -1, -2)) {
            lua_pushvalue(L, -3);
            lua_insert(L, -2);
            lua_rawset(L, 1); /* _G[k] = snapshot[k] (nil when new) */
        } else {
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    while (lua_next(L, 2)) { /* put back what the call removed */
        lua_pushvalue(L, -2);
        if (lua_rawget(L, 1) == LUA_TNIL) {
            lua_pop(L, 1);
            lua_pushvalue(L, -2);
            lua_pushvalue(L, -2);
            lua_rawset(L, 1);
        } else {
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    return 0;
}

static int snapshot_globals(lua_State *L) {
    lua_newtable(L);
    lua_pushglobaltable(L);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -5);
    }
    lua_pop(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, GLOBALS_KEY);
    return 0;
}

static int l_load(lua_State *L) {
    size_t len;
    const char *chunk = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    const char *mode = luaL_optstring(L, 3, "t");
    if (strchr(mode, 'b')) return luaL_error(L, "load: binary chunks are not allowed in a policy");
    int has_env = !lua_isnone(L, 4);
    if (luaL_loadbufferx(L, chunk, len, name, "t") != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env) {
        lua_pushvalue(L, 4);
        if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    }
    return 1;
}

static int add_file(struct lstate *ls, const char *path) {
    char **nf = realloc(ls->files, (ls->nfiles + 1) * sizeof *nf);
    if (!nf) return -1;
    ls->files = nf;
    if (!(nf[ls->nfiles] = strdup(path))) return -1;
    ls->nfiles++;
    return 0;
}

/* Read a whole file (at most SCRIPT_MAX_BYTES); NULL with errno set. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
        if (n == cap) {
            if (cap >= SCRIPT_MAX_BYTES) {
                free(buf);
                buf = NULL;
                errno = EFBIG;
                break;
            }
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (buf && bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    *len = n;
    return buf;
}

/* Load a text chunk; a "#!" first line is blanked (line numbers stay right). */
static int load_text(lua_State *L, const char *text, size_t len, const char *chunkname) {
    if (len && text[0] == '#') {
        const char *nl = memchr(text, '\n', len);
        size_t skip = nl ? (size_t)(nl - text) : len;
        text += skip, len -= skip;
    }
    return luaL_loadbufferx(L, text, len, chunkname, "t");
}

/* require(name): lua/lib/<name>.lua (embedded), then <script dir>/<name>.lua. Dots in the name
 * are directory separators; nothing else than [A-Za-z0-9_.-] is accepted. */
static int l_require(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    struct lstate *ls = lstate_of(L);
    size_t nl = strlen(name);
    if (nl == 0 || nl > 128 || strstr(name, "..") || name[0] == '.')
        return luaL_error(L, "require: invalid module name '%s'", name);
    char rel[160];
    for (size_t i = 0; i < nl; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return luaL_error(L, "require: invalid module name '%s'", name);
        rel[i] = c == '.' ? '/' : c;
    }
    rel[nl] = '\0';
    lua_getfield(L, LUA_REGISTRYINDEX, LOADED_KEY);
    lua_getfield(L, -1, name);
    if (!lua_isnil(L, -1)) return 1;
    lua_pop(L, 1);

    char path[4096];
    snprintf(path, sizeof path, "lua/lib/%s.lua", rel);
    const struct embedded_file *ef = embedded_find(path);
    char chunkname[4200];
    if (ef) {
        snprintf(chunkname, sizeof chunkname, "@%s", path);
        if (load_text(L, ef->data, ef->len, chunkname) != LUA_OK) return lua_error(L);
    } else if (ls->dir) {
        snprintf(path, sizeof path, "%s/%s.lua", ls->dir, rel);
        size_t len;
        char *text = read_file(path, &len);
        if (!text)
            return luaL_error(L, "require: module '%s' not found (no lua/lib/%s.lua, no %s: %s)",
                              name, rel, path, strerror(errno));
        snprintf(chunkname, sizeof chunkname, "@%s", path);
        int rc = load_text(L, text, len, chunkname);
        free(text);
        if (rc != LUA_OK) return lua_error(L);
        if (add_file(ls, path) != 0) return luaL_error(L, "require: out of memory");
    } else {
        return luaL_error(L, "require: module '%s' not found (no lua/lib/%s.lua)", name, rel);
    }
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    return 1;
}

static int sandbox(lua_State *L) {
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},        {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_TABLIBNAME, luaopen_table},  {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8},  {LUA_COLIBNAME, luaopen_coroutine},
                                    {LUA_OSLIBNAME, luaopen_os},      {NULL, NULL}};
    for (const luaL_Reg *l = libs; l->func; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    static const char *const drop[] = {"dofile", "loadfile", "collectgarbage", "require",
                                       "package", "io", "debug"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, drop[i]);
    }
    /* os: only the clock */
    lua_getfield(L, -1, "os");
    lua_createtable(L, 0, 3);
    static const char *const keep[] = {"time", "clock", "date"};
    for (size_t i = 0; i < 3; i++) {
        lua_getfield(L, -2, keep[i]);
        lua_setfield(L, -2, keep[i]);
    }
    lua_setfield(L, -3, "os");
    lua_pop(L, 1);
    lua_getfield(L, -1, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    static const char *const pat[] = {"find", "match", "gmatch", "gsub"};
    for (int i = 0; i < 4; i++) {
        lua_getfield(L, -1, pat[i]);
        lua_pushinteger(L, i);
        lua_pushcclosure(L, l_pattern_guarded, 2);
        lua_setfield(L, -2, pat[i]);
    }
    lua_pop(L, 1);
    lua_getfield(L, -1, "setmetatable");
    lua_pushcclosure(L, l_setmetatable, 1);
    lua_setfield(L, -2, "setmetatable");
    /* the os entry of package.loaded is not reachable: no package */
    lua_pushcfunction(L, l_load);
    lua_setfield(L, -2, "load");
    lua_pushcfunction(L, l_require);
    lua_setfield(L, -2, "require");
    lua_pushcfunction(L, l_print);
    lua_setfield(L, -2, "print");
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, l_resolve);
    lua_setfield(L, -2, "resolve");
    lua_pushcfunction(L, l_print);
    lua_setfield(L, -2, "log");
    lua_setfield(L, -2, "ccrelay");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, LOADED_KEY);
    body_metatable(L);
    return 0;
}

/* ---------- states ---------- */

static long cfg_number(const struct config *cfg, const char *key, long dflt, long min, long max) {
    const cJSON *v = cfg ? cJSON_GetObjectItemCaseSensitive(cfg->root, key) : NULL;
    if (cJSON_IsString(v) && v->valuestring[0]) {
        char *end;
        long n = strtol(v->valuestring, &end, 10);
        if (*end == '\0' && n >= min && n <= max) return n;
    }
    if (cJSON_IsNumber(v) && v->valuedouble >= (double)min && v->valuedouble <= (double)max)
        return (long)v->valuedouble;
    return dflt;
}

static void lstate_close(struct lstate *ls) {
    if (ls->L) lua_close(ls->L);
    ls->L = NULL;
    free(ls->name);
    free(ls->dir);
    for (size_t i = 0; i < ls->nfiles; i++) free(ls->files[i]);
    free(ls->files);
    ls->name = ls->dir = NULL;
    ls->files = NULL;
    ls->nfiles = 0;
}

static int step_config(lua_State *L) {
    const struct config *cfg = lua_touserdata(L, 1);
    push_json_copy(L, cfg ? cfg->root : NULL, 0);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        make_readonly(L);
    }
    return 1;
}

/* route = the chunk's result when it is a function, else rawget(_G, "route"). */
static int find_route(lua_State *L) {
    if (lua_isfunction(L, 1)) return 1;
    lua_pushglobaltable(L);
    lua_pushstring(L, "route");
    lua_rawget(L, -2);
    return 1;
}

/* Create the state, run the chunk's top level under the limits, find route(). `text` is the
 * script; `name` its display path (owned copy made); `dir` for require, NULL for the built-in
 * rules (whose limits never go below the defaults, whatever the config says). */
static int lstate_open(struct lstate *ls, const struct config *cfg, const struct logger *lg,
                       const char *name, const char *text, size_t len, const char *dir,
                       struct err *err) {
    memset(ls, 0, sizeof *ls);
    ls->cfg = cfg;
    ls->lg = lg;
    ls->route_ref = ls->config_ref = LUA_NOREF;
    ls->max_instr = cfg_number(cfg, "POLICY_MAX_INSTRUCTIONS", DEFAULT_MAX_INSTRUCTIONS, 1000,
                               2000000000L);
    ls->limit = (size_t)cfg_number(cfg, "POLICY_MAX_MEMORY_MB", DEFAULT_MAX_MEMORY_MB, 1, 4096)
                << 20;
    if (!dir) { /* the built-in rules: trusted, never below the defaults */
        if (ls->max_instr < DEFAULT_MAX_INSTRUCTIONS) ls->max_instr = DEFAULT_MAX_INSTRUCTIONS;
        if (ls->limit < ((size_t)DEFAULT_MAX_MEMORY_MB << 20))
            ls->limit = (size_t)DEFAULT_MAX_MEMORY_MB << 20;
    }
    ls->name = strdup(name);
    ls->dir = dir ? strdup(dir) : NULL;
    if (!ls->name || (dir && !ls->dir)) goto nomem;
    ls->L = lua_newstate(l_alloc, ls);
    if (!ls->L) goto nomem;
    lua_State *L = ls->L;
    lua_gc(L, LUA_GCGEN, 0, 0);
    lua_pushcfunction(L, sandbox);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) goto nomem;
    lua_pushcfunction(L, step_config);
    lua_pushlightuserdata(L, (void *)cfg);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) goto nomem;
    ls->config_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    char chunkname[4200];
    snprintf(chunkname, sizeof chunkname, "@%s", name);
    lua_pushcfunction(L, msgh);
    int rc = load_text(L, text, len, chunkname);
    if (rc != LUA_OK) {
        if (rc == LUA_ERRMEM) goto nomem;
        err_set(err, ERR_CONFIG, "policy %s: %s (fix the script; the previous policy stays)",
                name, lua_tostring(L, -1));
        goto fail;
    }
    limits_arm(ls);
    rc = lua_pcall(L, 0, 1, 1);
    limits_disarm(ls);
    if (rc != LUA_OK) {
        char why[ERR_MSG_MAX / 2];
        call_error(ls, rc, why, sizeof why);
        err_set(err, ERR_CONFIG, "policy %s: loading failed: %s", name, why);
        goto fail;
    }
    /* The chunk's result or the global `route`, read raw (a metatable on _G runs no code here)
     * and with the cap lifted: this bookkeeping must not fail because the script's top level
     * used all of its memory. */
    size_t limit = ls->limit;
    ls->limit = (size_t)-1;
    lua_pushcfunction(L, find_route);
    lua_insert(L, -2);
    rc = lua_pcall(L, 1, 1, 0);
    ls->limit = limit;
    if (rc != LUA_OK) goto nomem;
    if (!lua_isfunction(L, -1)) {
        err_set(err, ERR_CONFIG,
                "policy %s: no route function (define `function route(req, config)` or end the "
                "script with `return function(req, config) ... end`)",
                name);
        goto fail;
    }
    lua_Debug ar;
    lua_pushvalue(L, -1);
    if (lua_getinfo(L, ">S", &ar))
        snprintf(ls->route_where, sizeof ls->route_where, "%s:%d", ar.short_src, ar.linedefined);
    ls->limit = (size_t)-1;
    ls->route_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* may grow the registry */
    ls->limit = limit;
    if (ls->route_ref == LUA_REFNIL) goto nomem;
    lua_settop(L, 0);
    ls->limit = (size_t)-1;
    rc = pcall_c(L, snapshot_globals);
    ls->limit = limit;
    if (rc != LUA_OK) goto nomem;
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
nomem:
    err_set(err, ERR_NOMEM, "policy %s: out of memory creating the Lua state (limit %zu MiB)",
            name, ls->limit >> 20);
fail:
    lstate_close(ls);
    return -1;
}

static char *home_router_path(void) {
    const char *home = getenv("HOME");
    if (!home || !*home) return NULL;
    size_t n = strlen(home) + 32;
    char *p = malloc(n);
    if (!p) return NULL;
    snprintf(p, n, "%s/.ccrelay/custom-router.lua", home);
    if (access(p, F_OK) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

static char *expand_home(const char *path) {
    const char *home = getenv("HOME");
    if (path[0] == '~' && path[1] == '/' && home) {
        size_t n = strlen(home) + strlen(path) + 1;
        char *p = malloc(n);
        if (p) snprintf(p, n, "%s%s", home, path + 1);
        return p;
    }
    return strdup(path);
}

int policy_new(const struct config *cfg, const struct logger *lg, struct policy **out,
               struct err *err) {
    *out = NULL;
    struct policy *p = calloc(1, sizeof *p);
    if (!p) return err_set(err, ERR_NOMEM, "policy: out of memory");
    p->cfg = cfg;
    p->lg = lg;
    /* A LiteLLM model map (config.c, src/litellm.c) replaces the scenario rules. */
    const char *builtin =
        cfg && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(cfg->root, "model_map"))
            ? "lua/model_map.lua"
            : "lua/router.lua";
    const struct embedded_file *ef = embedded_find(builtin);
    if (!ef) {
        free(p);
        return err_set(err, ERR_INTERNAL, "policy: %s is not compiled in (build bug)", builtin);
    }
    if (lstate_open(&p->builtin, cfg, lg, builtin, ef->data, ef->len, NULL, err) != 0) {
        free(p);
        return -1;
    }

    char *path = NULL;
    const char *conf = cfg ? cfg->custom_router_path : NULL;
    if (!conf && cfg)
        conf = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg->root, "CUSTOM_ROUTER_PATH"));
    if (conf && *conf) {
        path = expand_home(conf);
        if (!path) goto nomem;
    } else {
        path = home_router_path();
    }
    if (path) {
        size_t len;
        char *text = read_file(path, &len);
        if (!text) {
            err_set(err, ERR_CONFIG, "policy: cannot read the custom router %s: %s (fix "
                    "CUSTOM_ROUTER_PATH or create the file)", path, strerror(errno));
            free(path);
            policy_free(p);
            return -1;
        }
        char *dir = strdup(path);
        if (!dir) {
            free(text);
            free(path);
            goto nomem;
        }
        char *slash = strrchr(dir, '/');
        if (slash)
            *(slash == dir ? slash + 1 : slash) = '\0';
        else
            strcpy(dir, ".");
        p->custom = calloc(1, sizeof *p->custom);
        int rc = p->custom ? lstate_open(p->custom, cfg, lg, path, text, len, dir, err) : -1;
        if (!p->custom) err_set(err, ERR_NOMEM, "policy: out of memory");
        free(text);
        free(dir);
        if (rc == 0 && add_file(p->custom, path) != 0) {
            rc = err_set(err, ERR_NOMEM, "policy: out of memory");
        }
        free(path);
        if (rc != 0) {
            lstate_close(p->custom);
            free(p->custom);
            p->custom = NULL;
            policy_free(p);
            return -1;
        }
        log_info(lg, "policy: custom router %s loaded (limits: %ld instructions, %zu MiB)",
                 p->custom->name, p->custom->max_instr, p->custom->limit >> 20);
    }
    *out = p;
    return 0;
nomem:
    policy_free(p);
    return err_set(err, ERR_NOMEM, "policy: out of memory");
}

void policy_free(struct policy *p) {
    if (!p) return;
    lstate_close(&p->builtin);
    if (p->custom) {
        lstate_close(p->custom);
        free(p->custom);
    }
    free(p);
}

const char *policy_custom_path(const struct policy *p) {
    return p && p->custom ? p->custom->name : NULL;
}

size_t policy_files(const struct policy *p, const char *const **files) {
    if (!p || !p->custom) {
        *files = NULL;
        return 0;
    }
    *files = (const char *const *)p->custom->files;
    return p->custom->nfiles;
}

/* ---------- one call ---------- */

static bool credential_header(const char *n) {
    return strcasecmp(n, "authorization") == 0 || strcasecmp(n, "x-api-key") == 0 ||
           strcasecmp(n, "cookie") == 0 || strcasecmp(n, "proxy-authorization") == 0;
}

static void set_str(lua_State *L, const char *k, const char *v) {
    if (!v) return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

/* Build req (read-only). Runs protected (lua_pcall) so an allocation failure cannot abort. */
static int push_req(lua_State *L) {
    const struct summary *s = lua_touserdata(L, 1);
    const struct policy_body *body = lua_touserdata(L, 2);
    lua_createtable(L, 0, 20);
    set_str(L, "model", s->model);
    lua_pushinteger(L, s->tokens);
    lua_setfield(L, -2, "tokens");
    lua_pushboolean(L, s->stream);
    lua_setfield(L, -2, "stream");
    if (s->thinking_type) {
        lua_createtable(L, 0, 2);
        set_str(L, "type", s->thinking_type);
        if (s->thinking_budget >= 0) {
            lua_pushinteger(L, s->thinking_budget);
            lua_setfield(L, -2, "budget_tokens");
        }
        make_readonly(L);
        lua_setfield(L, -2, "thinking");
    }
    set_str(L, "effort", s->effort);
    set_str(L, "thinking_level", s->thinking_level ? s->thinking_level : "off");
    lua_createtable(L, (int)s->ntools, 0);
    for (size_t i = 0; i < s->ntools; i++) {
        lua_pushstring(L, s->tools[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    make_readonly(L);
    lua_setfield(L, -2, "tools");
    lua_pushboolean(L, s->web_search);
    lua_setfield(L, -2, "web_search");
    lua_pushboolean(L, s->images);
    lua_setfield(L, -2, "images");
    set_str(L, "subagent_model", s->subagent_model);
    set_str(L, "session_id", s->session_id);
    set_str(L, "agent_id", s->agent_id);
    set_str(L, "path", s->path);
    lua_createtable(L, 0, s->headers ? (int)s->headers->n : 0);
    for (size_t i = 0; s->headers && i < s->headers->n; i++) {
        const struct http_header *h = &s->headers->v[i];
        if (!h->name || !h->value || credential_header(h->name)) continue;
        char lower[128];
        size_t n = strlen(h->name);
        if (n >= sizeof lower) continue;
        for (size_t k = 0; k <= n; k++)
            lower[k] = (h->name[k] >= 'A' && h->name[k] <= 'Z') ? (char)(h->name[k] + 32) : h->name[k];
        lua_getfield(L, -1, lower);
        bool seen = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (seen) continue; /* the first value, as http_hdrs_get */
        lua_pushstring(L, h->value);
        lua_setfield(L, -2, lower);
    }
    make_readonly(L);
    lua_setfield(L, -2, "headers");
    if (body && (body->tree || body->raw)) {
        struct body_view *v = lua_newuserdatauv(L, sizeof *v, 0);
        v->node = body->tree; /* NULL until a script reads it */
        v->gen = lstate_of(L)->body_gen;
        luaL_setmetatable(L, BODY_MT);
        lua_setfield(L, -2, "body");
    }
    make_readonly(L);
    return 1;
}

/* Copy one target string into out->t[out->n]. Returns 0, or -1 with why. */
static int add_target(struct lstate *ls, const char *s, struct route_decision *out, char *why,
                      size_t n) {
    if (out->n >= ROUTE_MAX_TARGETS) return 0; /* a fallback beyond the cap */
    const struct cfg_provider *p = NULL;
    const char *m = NULL;
    size_t ml = 0;
    if (resolve_target(ls->cfg, s, &p, &m, &ml, why, n) != 0) return -1;
    char *model = strndup(m, ml);
    if (!model) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    out->t[out->n].provider = p;
    out->t[out->n].model = model;
    out->n++;
    return 0;
}

/* Targets from a list (raw access only: no metamethod runs here). */
static int add_list(struct lstate *ls, int idx, struct route_decision *out, char *why, size_t n) {
    lua_State *L = ls->L;
    push_real(L, idx);
    int t = lua_gettop(L);
    int rc = 0;
    for (lua_Integer i = 1; rc == 0; i++) {
        int ty = lua_rawgeti(L, t, i);
        if (ty == LUA_TNIL) {
            lua_pop(L, 1);
            break;
        }
        if (out->n >= ROUTE_MAX_TARGETS) {
            log_warn(ls->lg, "policy %s: more than %d targets; the rest are ignored", ls->name,
                     ROUTE_MAX_TARGETS);
            lua_pop(L, 1);
            break;
        }
        if (ty != LUA_TSTRING) {
            snprintf(why, n, "target %lld is a %s, not a \"provider,model\" string", (long long)i,
                     lua_typename(L, ty));
            rc = -1;
        } else {
            rc = add_target(ls, lua_tostring(L, -1), out, why, n);
        }
        lua_pop(L, 1);
    }
    lua_settop(L, t - 1);
    return rc;
}

/* Interpret route()'s result at stack index idx: 1 decided, 0 nil, -1 invalid (why). */
static int take_result(struct lstate *ls, int idx, struct route_decision *out, char *why,
                       size_t n) {
    lua_State *L = ls->L;
    char reason[384];
    int rc = 0;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return 0;
    case LUA_TSTRING:
        rc = add_target(ls, lua_tostring(L, idx), out, reason, sizeof reason);
        break;
    case LUA_TTABLE: {
        push_real(L, idx);
        int t = lua_gettop(L);
        lua_pushstring(L, "target"); /* raw reads: no user metamethod runs here */
        int ty = lua_rawget(L, t);
        if (ty == LUA_TSTRING) {
            rc = add_target(ls, lua_tostring(L, -1), out, reason, sizeof reason);
            lua_pop(L, 1);
            lua_pushstring(L, "fallback");
            int fty = lua_rawget(L, t);
            if (rc == 0 && fty == LUA_TSTRING)
                rc = add_target(ls, lua_tostring(L, -1), out, reason, sizeof reason);
            else if (rc == 0 && fty == LUA_TTABLE)
                rc = add_list(ls, -1, out, reason, sizeof reason);
            else if (rc == 0 && fty != LUA_TNIL) {
                snprintf(reason, sizeof reason, "fallback is a %s", lua_typename(L, fty));
                rc = -1;
            }
        } else if (ty != LUA_TNIL) {
            snprintf(reason, sizeof reason, "target is a %s, not a string", lua_typename(L, ty));
            rc = -1;
        } else {
            rc = add_list(ls, t, out, reason, sizeof reason);
            if (rc == 0 && out->n == 0) {
                snprintf(reason, sizeof reason, "an empty table");
                rc = -1;
            }
        }
        lua_settop(L, t - 1);
        break;
    }
    default:
        snprintf(reason, sizeof reason, "a %s", luaL_typename(L, idx));
        rc = -1;
    }
    if (rc != 0) {
        snprintf(why, n, "%s: route() returned an invalid target: %s", ls->route_where, reason);
        route_decision_free(out);
        return -1;
    }
    return 1;
}

struct parse_args {
    struct lstate *ls;
    struct route_decision *out;
    char *why;
    size_t n;
    int rc;
};

/* take_result under lua_pcall: an allocation failure while reading becomes an error. */
static int parse_protected(lua_State *L) {
    struct parse_args *a = lua_touserdata(L, 1); /* 2: route()'s first result */
    a->rc = take_result(a->ls, 2, a->out, a->why, a->n);
    return 0;
}

/* Run route() of one state. 1 decided (rule copied when the script names one), 0 nil,
 * -1 failed (why). */
static int run(struct lstate *ls, const struct summary *s, struct policy_body *body,
               struct route_decision *out, char *rule, size_t rulelen, char *why, size_t n) {
    lua_State *L = ls->L;
    lua_settop(L, 0);
    lua_pushcfunction(L, msgh); /* 1 */
    ls->body_gen++;
    ls->body_live = true;
    ls->body = body;
    limits_arm(ls);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->route_ref); /* 2 */
    lua_pushcfunction(L, push_req);
    lua_pushlightuserdata(L, (void *)s);
    lua_pushlightuserdata(L, (void *)body);
    int status = lua_pcall(L, 2, 1, 1); /* 3: req */
    if (status == LUA_OK) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, ls->config_ref); /* 4 */
        status = lua_pcall(L, 2, 2, 1);                    /* 2, 3: results */
    }
    limits_disarm(ls);
    ls->body_live = false;
    ls->body = NULL;
    int rc;
    if (status != LUA_OK) {
        call_error(ls, status, why, n);
        rc = -1;
    } else {
        if (rule && lua_type(L, 3) == LUA_TSTRING) snprintf(rule, rulelen, "%s", lua_tostring(L, 3));
        struct parse_args a = {ls, out, why, n, -1};
        lua_settop(L, 3);
        lua_pushcfunction(L, parse_protected);
        lua_pushlightuserdata(L, &a);
        lua_pushvalue(L, 2);
        if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
            route_decision_free(out);
            snprintf(why, n, "%s: route() result could not be read (out of memory)",
                     ls->route_where);
            a.rc = -1;
        }
        rc = a.rc;
    }
    lua_settop(L, 0);
    size_t limit = ls->limit;
    ls->limit = (size_t)-1;
    if (pcall_c(L, restore_globals) != LUA_OK) lua_settop(L, 0);
    ls->limit = limit;
    if (rc < 0) lua_gc(L, LUA_GCCOLLECT); /* give back what a failed call held */
    return rc;
}

int policy_route(struct policy *p, const struct summary *s, struct policy_body *body,
                 struct route_decision *out, struct err *err) {
    memset(out, 0, sizeof *out);
    char why[ERR_MSG_MAX / 2];
    if (p->custom) {
        int rc = run(p->custom, s, body, out, NULL, 0, why, sizeof why);
        if (rc == 1) {
            snprintf(out->rule, sizeof out->rule, "custom");
            snprintf(out->source, sizeof out->source, "custom");
            return 0;
        }
        if (rc < 0)
            log_warn(p->lg, "policy: custom router failed: %s; the built-in rules decide", why);
    }
    char rule[sizeof out->rule] = "builtin";
    int rc = run(&p->builtin, s, body, out, rule, sizeof rule, why, sizeof why);
    if (rc == 1) {
        snprintf(out->rule, sizeof out->rule, "%s", rule);
        snprintf(out->source, sizeof out->source, "builtin");
        return 0;
    }
    if (rc == 0)
        return err_set(err, ERR_NOT_FOUND,
                       "no route for model '%s': no rule gave a target (set Router.default in "
                       "the config)",
                       s->model ? s->model : "");
    return err_set(err, strcmp(rule, "explicit") == 0 ? ERR_NOT_FOUND : ERR_CONFIG,
                   "no route for model '%s': built-in rule %s: %s", s->model ? s->model : "", rule,
                   why);
}

void route_decision_free(struct route_decision *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n && i < ROUTE_MAX_TARGETS; i++) {
        free(d->t[i].model);
        d->t[i].model = NULL;
        d->t[i].provider = NULL;
    }
    d->n = 0;
}
