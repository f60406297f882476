/* Generations handed from the process that reads the files to its forked
 * workers (see handoff.h). */
#include "handoff.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/pem.h>

#define SLOTS 8
#define SLOT_MAX (64 * 1024)

/* One source's newest generation as PEM (chain, then key). A seqlock: the
 * writer makes seq odd, writes, makes it even; readers retry on change. */
struct slot {
    _Atomic uint64_t seq;
    _Atomic uint64_t gen;
    _Atomic size_t len;
    unsigned char data[SLOT_MAX];
};

struct tracked {
    ftls_source *file, *mem;
    _Atomic uint64_t seen; /* per process: copy-on-write after fork */
};

static struct slot *g_slots; /* MAP_SHARED: survives fork() shared */
static struct tracked g_t[SLOTS];
static _Atomic size_t g_n;
static pid_t g_reader; /* the process that reads the files */
static pthread_mutex_t g_write = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_refresh = PTHREAD_MUTEX_INITIALIZER;
static handoff_say_fn g_say;

int handoff_init(handoff_say_fn say)
{
    g_say = say;
    g_reader = getpid();
    void *p = mmap(NULL, sizeof(struct slot) * SLOTS, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    g_slots = p;
    return 1;
}

/* PEM of an identity (leaf, chain, key) in a malloc'd buffer; NULL on
 * failure. The caller wipes and frees it. */
static unsigned char *identity_pem(const ftls_identity *id, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    STACK_OF(X509) *chain = ftls_identity_get0_chain(id);
    int ok = b && PEM_write_bio_X509(b, ftls_identity_get0_leaf(id));
    for (int i = 0; ok && i < sk_X509_num(chain); i++)
        ok = PEM_write_bio_X509(b, sk_X509_value(chain, i));
    ok = ok && PEM_write_bio_PrivateKey(b, ftls_identity_get0_key(id), NULL,
                                        NULL, 0, NULL, NULL);
    char *data = NULL;
    long n = ok ? BIO_get_mem_data(b, &data) : -1;
    unsigned char *out = n > 0 ? malloc((size_t)n) : NULL;
    if (out != NULL) {
        memcpy(out, data, (size_t)n);
        *len = (size_t)n;
    }
    if (n > 0)
        OPENSSL_cleanse(data, (size_t)n);
    BIO_free(b);
    return out;
}

static int slot_of(const ftls_source *file)
{
    size_t n = atomic_load(&g_n);
    for (size_t i = 0; i < n; i++)
        if (g_t[i].file == file)
            return (int)i;
    return -1;
}

void handoff_publish(const ftls_source *source)
{
    int i = slot_of(source);
    ftls_source *file = i >= 0 ? g_t[i].file : NULL;
    ftls_identity *id = NULL;
    size_t len = 0;
    unsigned char *pem = NULL;
    if (i < 0 || getpid() != g_reader ||
        ftls_source_get1_identity(file, &id, NULL) != FTLS_OK ||
        (pem = identity_pem(id, &len)) == NULL || len > SLOT_MAX) {
        if (i >= 0 && len > SLOT_MAX)
            g_say("generation of %s too large to hand to workers (%zu bytes)",
                  ftls_source_describe(file), len);
        goto done;
    }
    struct slot *s = &g_slots[i];
    pthread_mutex_lock(&g_write);
    atomic_fetch_add(&s->seq, 1); /* odd: writing */
    OPENSSL_cleanse(s->data, atomic_load(&s->len));
    memcpy(s->data, pem, len);
    atomic_store(&s->len, len);
    atomic_fetch_add(&s->gen, 1);
    atomic_fetch_add(&s->seq, 1); /* even: stable */
    pthread_mutex_unlock(&g_write);
done:
    if (pem != NULL) {
        OPENSSL_cleanse(pem, len);
        free(pem);
    }
    ftls_identity_free(id);
}

/* The file source reports every event; its memory twin only refusals. */
static void mem_event(const ftls_source_event *ev, void *ud)
{
    (void)ud;
    if (ev->type == FTLS_EVENT_REJECTED)
        g_say("pid %ld: refused a handed-over generation: %s", (long)getpid(),
              ev->message);
}

ftls_source *handoff_track(ftls_source *file)
{
    size_t n = atomic_load(&g_n);
    ftls_source *mem = NULL;
    if (g_slots == NULL || n >= SLOTS ||
        ftls_source_new_identity_memory(NULL, &mem, NULL) != FTLS_OK)
        return NULL;
    if (ftls_source_set_event_callback(mem, mem_event, NULL) != FTLS_OK) {
        ftls_source_free(mem);
        return NULL;
    }
    g_t[n].file = file;
    g_t[n].mem = mem;
    atomic_init(&g_t[n].seen, 0);
    atomic_store(&g_n, n + 1);
    handoff_publish(file);
    handoff_refresh();
    if (ftls_source_generation(mem) == 0) {
        atomic_store(&g_n, n); /* nothing usable: forget it */
        ftls_source_free(mem);
        return NULL;
    }
    return mem;
}

/* A consistent copy of slot i; NULL when it kept changing. */
static unsigned char *read_slot(struct slot *s, size_t *len, uint64_t *gen)
{
    unsigned char *copy = malloc(SLOT_MAX);
    for (int tries = 0; copy != NULL && tries < 100; tries++) {
        uint64_t q = atomic_load(&s->seq);
        if (q & 1)
            continue;
        *gen = atomic_load(&s->gen);
        *len = atomic_load(&s->len);
        if (*len > SLOT_MAX)
            continue;
        memcpy(copy, s->data, *len);
        if (atomic_load(&s->seq) == q)
            return copy;
    }
    free(copy);
    return NULL;
}

void handoff_refresh(void)
{
    size_t n = atomic_load(&g_n);
    int stale = 0;
    for (size_t i = 0; i < n && !stale; i++)
        stale = atomic_load(&g_slots[i].gen) != atomic_load(&g_t[i].seen);
    if (!stale)
        return; /* the common case: two loads per source */
    pthread_mutex_lock(&g_refresh);
    for (size_t i = 0; i < n; i++) {
        struct tracked *t = &g_t[i];
        if (atomic_load(&g_slots[i].gen) == atomic_load(&t->seen))
            continue;
        size_t len = 0;
        uint64_t gen = 0;
        unsigned char *pem = read_slot(&g_slots[i], &len, &gen);
        if (pem == NULL)
            continue;
        ftls_error *err = NULL;
        if (ftls_error_new(&err) != FTLS_OK)
            err = NULL;
        /* A refused generation is logged by mem_event; the previous one
         * stays published here, as everywhere. */
        if (ftls_source_set_memory(t->mem, pem, len, NULL, 0, err) != FTLS_OK)
            g_say("pid %ld: cannot take the generation of %s: %s",
                  (long)getpid(), ftls_source_describe(t->file),
                  ftls_error_message(err));
        else if (ftls_source_reload(t->mem, NULL) != FTLS_OK)
            g_say("pid %ld: keeping the previous generation of %s",
                  (long)getpid(), ftls_source_describe(t->file));
        atomic_store(&t->seen, gen);
        ftls_error_free(err);
        OPENSSL_cleanse(pem, len);
        free(pem);
    }
    pthread_mutex_unlock(&g_refresh);
}
