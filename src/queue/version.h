#ifndef SYNQ_QUEUE_VERSION_H
#define SYNQ_QUEUE_VERSION_H

#define SYNQ_VERSION "0.1.0"

#endif
