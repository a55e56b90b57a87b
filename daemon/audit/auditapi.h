/* The regulator API: its own TLS listener (client certificates required) and thread. */
#ifndef LGD_AUDITAPI_H
#define LGD_AUDITAPI_H

#include <stddef.h>

#include "config.h"

/* Start serving /audit/v1/ on cf->audit.listen; 0, or -1 with the reason in err. */
int lgd_auditapi_start(const struct lg_config *cf, char *err, size_t errlen);
/* Stop the API thread and close its listener. */
void lgd_auditapi_stop(void);

#endif
