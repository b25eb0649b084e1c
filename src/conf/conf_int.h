/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/conf: the shape of the option table (conf_table.c) and the
 * few helpers conf.c shares with conf_doc.c. Everything the parser accepts
 * and everything the docs say comes from conf_options[]; adding an option is
 * adding one entry there. */
#ifndef MOAT_CONF_INT_H
#define MOAT_CONF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

typedef enum conf_type {
    CONF_STRING,   /* char array; width is its size */
    CONF_BOOL,     /* bool */
    CONF_UINT,     /* unsigned integer of width 1, 2, 4 or 8 bytes */
    CONF_SIZE,     /* bytes, written with B/KB/MB/GB */
    CONF_DURATION, /* written with ms/s/m/h/d, stored as ms / scale */
    CONF_ENUM,     /* one name of values[], stored as an integer of width bytes */
    CONF_ADDRESS,  /* listener declaration: [ip:]port */
} conf_type;

enum conf_flag {
    CONF_RELOAD = 1u << 0,   /* applied on SIGHUP without a restart */
    CONF_LISTENER = 1u << 1, /* per listener: name is relative to listener.<type>.<name> */
    CONF_NONEMPTY = 1u << 2, /* strings: "" is refused */
    CONF_SECRET = 1u << 3,   /* never printed (passwords) */
};

/* Numbered keys (EMQX 4's auth.user.1.username): an option whose name holds
 * ".N." stands for `count` keys with N = 1..count, stored in an array of
 * moat_conf whose elements are `stride` bytes apart (entry N at offset +
 * (N-1) * stride). Entries left unset stay empty. */
#define CONF_NUMBERED_MARK ".N."

typedef struct conf_enum_value {
    const char *name;
    int value;
} conf_enum_value;

typedef enum conf_section {
    CONF_SEC_NODE,
    CONF_SEC_LOG,
    CONF_SEC_BROKER,
    CONF_SEC_AUTH,
    CONF_SEC_MQTT,
    CONF_SEC_RETAINER,
    CONF_SEC_PERSISTENCE,
    CONF_SEC_LISTENER,
    CONF_SEC_DASHBOARD,
    CONF_SEC__COUNT
} conf_section;

typedef struct conf_section_info {
    const char *title;
    const char *intro;
} conf_section_info;

typedef struct conf_option {
    /* Full key; for CONF_LISTENER the part after listener.<type>.<name>.
     * ("" is the declaration itself). */
    const char *name;
    conf_type type;
    conf_section section;
    unsigned flags;
    /* CONF_LISTENER: bit i allows conf_listener_types[i]; 0 allows all. */
    unsigned listener_types;
    /* Field in moat_conf, or in moat_listener_conf for CONF_LISTENER. */
    size_t offset;
    size_t width;
    /* Accepted range, in bytes / milliseconds / plain units. */
    uint64_t min, max;
    /* Non-zero: a value above cap is stored as cap. Lets a limit read as a
     * round number ("256MB") while storing the protocol's exact maximum. */
    uint64_t cap;
    /* CONF_DURATION: the field holds milliseconds / scale (1000: seconds). */
    uint32_t scale;
    const conf_enum_value *values; /* CONF_ENUM, ends with a NULL name */
    /* CONF_STRING: optional further check of a value (a CIDR list, a path);
     * false with "what is wrong (expected ...)" in msg refuses it. */
    bool (*check)(const char *v, char *msg, size_t n);
    /* Numbered keys (see CONF_NUMBERED_MARK): count > 0, stride in bytes. */
    uint32_t count;
    size_t stride;
    const char *def;  /* default, in the file's syntax */
    const char *desc; /* one line */
} conf_option;

typedef struct conf_listener_type {
    const char *name;
    uint16_t default_port;
    bool supported; /* false: known but refused with "not supported yet" */
} conf_listener_type;

/* Upper bound on the table's length, for per-option arrays in the loader. */
#define CONF_MAX_OPTIONS 256

extern const conf_option conf_options[];
extern const size_t conf_n_options;
extern const conf_listener_type conf_listener_types[];
extern const size_t conf_n_listener_types;
extern const conf_section_info conf_sections[CONF_SEC__COUNT];

/* Shared by conf.c and conf_doc.c. */
/* The key of entry idx (0-based) of a numbered option: auth.user.3.username. */
void conf_numbered_key(const conf_option *o, uint32_t idx, char *buf, size_t n);
uint64_t conf_load_uint(const void *p, size_t width);
void conf_format_size(uint64_t bytes, char *buf, size_t n);
void conf_format_duration(uint64_t ms, char *buf, size_t n);
/* The stored value of o as it would be written in a file, unquoted. */
void conf_format_value(const conf_option *o, const void *base, char *buf, size_t n);
/* "16B to 256MB", "0 to 2", "100ms to 1d"; "" for types without a range. */
void conf_format_range(const conf_option *o, char *buf, size_t n);
/* "0.0.0.0:1883", "[::1]:1883". */
void conf_format_address(const moat_listener_conf *l, char *buf, size_t n);
/* The key of a per-listener option: listener.tcp.default.max_connections. */
void conf_listener_key(const moat_listener_conf *l, const conf_option *o, char *buf, size_t n);

#endif
