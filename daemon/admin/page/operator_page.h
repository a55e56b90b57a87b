/* The operator page, built into lessongated from operator.html by embed.py (daemon/meson.build). */
#ifndef LGD_OPERATOR_PAGE_H
#define LGD_OPERATOR_PAGE_H

#include <stddef.h>

extern const char lgd_operator_page[]; /* NUL-terminated */
extern const size_t lgd_operator_page_len;

#endif
