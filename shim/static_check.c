/* Before main(), under freshtls exec: a program that carries OpenSSL
 * inside its executable (statically linked) never calls the libssl the
 * shim interposes, so nothing would be followed. Say so once, clearly,
 * instead of staying silent. The test: the executable holds OpenSSL's
 * version text ("OpenSSL 3.0.13 ...") and does not itself list a
 * libssl.so among the libraries it needs. Likewise a program linked
 * against another OpenSSL major's libssl.so.N: its calls carry that
 * major's symbol versions and never reach the shim (exports.map.in). */
#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim.h"

/* File offset of virtual address v in the executable, or 0. */
static size_t file_offset(const unsigned char *f, const Elf64_Ehdr *eh,
                          size_t size, Elf64_Addr v)
{
    for (int i = 0; i < eh->e_phnum; i++) {
        size_t off = eh->e_phoff + (size_t)i * eh->e_phentsize;
        if (off + sizeof(Elf64_Phdr) > size)
            return 0;
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(const void *)(f + off);
        if (ph->p_type == PT_LOAD && v >= ph->p_vaddr &&
            v < ph->p_vaddr + ph->p_filesz)
            return (size_t)(v - ph->p_vaddr + ph->p_offset);
    }
    return 0;
}

/* The major of the libssl.so.N the executable's DT_NEEDED names; 0 when
 * it names none; FTLS_OSSL_MAJOR when the file cannot be read as ELF. */
static int needs_libssl(const unsigned char *f, size_t size)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(const void *)f;
    if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_ident[EI_CLASS] != ELFCLASS64)
        return FTLS_OSSL_MAJOR; /* not what we can read: say nothing */
    const Elf64_Dyn *dyn = NULL;
    size_t ndyn = 0;
    for (int i = 0; i < eh->e_phnum; i++) {
        size_t off = eh->e_phoff + (size_t)i * eh->e_phentsize;
        if (off + sizeof(Elf64_Phdr) > size)
            return FTLS_OSSL_MAJOR;
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(const void *)(f + off);
        if (ph->p_type == PT_DYNAMIC && ph->p_offset + ph->p_filesz <= size) {
            dyn = (const Elf64_Dyn *)(const void *)(f + ph->p_offset);
            ndyn = ph->p_filesz / sizeof(*dyn);
        }
    }
    size_t strtab = 0;
    for (size_t i = 0; i < ndyn; i++)
        if (dyn[i].d_tag == DT_STRTAB)
            strtab = file_offset(f, eh, size, dyn[i].d_un.d_ptr);
    for (size_t i = 0; strtab && i < ndyn; i++) {
        size_t at = strtab + dyn[i].d_un.d_val;
        if (dyn[i].d_tag == DT_NEEDED && at + 11 < size &&
            strncmp((const char *)f + at, "libssl.so.", 10) == 0)
            return atoi((const char *)f + at + 10);
    }
    return 0;
}

/* OpenSSL's version text, "OpenSSL <digit>.", somewhere in the file. */
static int has_openssl_text(const unsigned char *f, size_t size)
{
    const unsigned char *p = f, *end = f + size;
    while ((p = memmem(p, (size_t)(end - p), "OpenSSL ", 8)) != NULL) {
        if (p + 10 <= end && p[8] >= '1' && p[8] <= '9' && p[9] == '.')
            return 1;
        p += 8;
    }
    return 0;
}

__attribute__((constructor)) static void check_static_openssl(void)
{
    const char *on = getenv("FRESHTLS_EXEC");
    if (on == NULL || strcmp(on, "1") != 0)
        return;
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    size_t size = (size_t)st.st_size;
    void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return;
    int major = needs_libssl(m, size);
    if (major == 0 && has_openssl_text(m, size))
        shim_say("this program carries OpenSSL inside its executable "
                 "(statically linked): freshtls exec cannot reach its TLS "
                 "contexts, so nothing will be followed");
    else if (major != 0 && major != FTLS_OSSL_MAJOR)
        shim_say("this program uses libssl.so.%d (OpenSSL %d) but the shim "
                 "is built for OpenSSL %d: its TLS contexts are left alone",
                 major, major, FTLS_OSSL_MAJOR);
    munmap(m, size);
}
