#ifndef CADRE_CADRE_H
#define CADRE_CADRE_H
/**
 * \file cadre.h
 * cadre's C API: a C (or Fortran-through-C) program that serves requests as a node of a
 * cadre job, as a native node. C11; no C++ here. Link with cadre::cadre_c (CMake) or
 * `pkg-config --libs cadre-c`.
 *
 * A native node registers named handlers, then serves: each handler is, on the C++ side, a
 * task named as registered with the signature std::vector<char>(std::vector<char>), started
 * by name like any task of another program: run<std::vector<char>>(where, "name", bytes).
 *
 *     cadre_start(&argc, &argv);                 // checks, remembers argc/argv
 *     cadre_register("reverse", reverse, NULL);  // before cadre_serve
 *     int status = cadre_serve();                // joins the job, serves until stopped
 *     cadre_stop();                              // ends MPI; returns the status to exit with
 *
 * The node joins the job when cadre_serve starts (MPI_Init, then its registry goes to the
 * master), as a spawned node (spawn_nodes on the master) or as a world rank of an MPMD job.
 * Handlers run one at a time on the node's scheduler, on a fiber stack of
 * Options::stack_size bytes (CADRE_STACK_SIZE on the master; 128 KiB by default).
 * Functions return CADRE_OK (0) or a negative cadre_status; cadre_last_error() says why.
 */

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The C API's version: this header and the library agree on it (cadre_version()). */
#define CADRE_C_API_VERSION 1

/** What a cadre_* function returns. */
enum cadre_status {
  CADRE_OK = 0,            /**< done */
  CADRE_ERR_ARGUMENT = -1, /**< a null or empty argument, an unknown level */
  CADRE_ERR_STATE = -2,    /**< called at the wrong time (before cadre_start, after serving) */
  CADRE_ERR_REGISTRY = -3, /**< a handler name registered twice, or colliding with another */
  CADRE_ERR_RUNTIME = -4   /**< the node could not join or serve (MPI, the master refused) */
};

/** Log levels of cadre_log, as cadre::Level. */
enum cadre_level {
  CADRE_LOG_TRACE = 0,
  CADRE_LOG_DEBUG = 1,
  CADRE_LOG_INFO = 2,
  CADRE_LOG_WARN = 3,
  CADRE_LOG_ERROR = 4
};

/**
 * A named handler: takes `in_len` bytes at `in` (NULL when in_len is 0) and returns bytes.
 * On success it returns 0 and sets `*out` to a buffer of `*out_len` bytes allocated with
 * malloc() (or cadre_alloc()), which the library frees with free(); `*out` may stay NULL
 * when `*out_len` is 0. A non-zero return fails the call: the caller's future throws
 * cadre::RemoteError naming the handler and the status, and the bytes left in `*out`, if
 * any, as the reason. `user` is the pointer given to cadre_register.
 */
typedef int (*cadre_handler)(const void* in, size_t in_len, void** out, size_t* out_len,
                             void* user);

/** The library's C API version (CADRE_C_API_VERSION of the build). */
int cadre_version(void);

/**
 * Prepares this process to be a node: remembers argc/argv (given to MPI_Init when the node
 * joins). Call once, first. CADRE_ERR_STATE when called twice.
 */
int cadre_start(int* argc, char*** argv);

/**
 * Registers `handler` under `name` (with `user` passed to every call). Before cadre_serve:
 * the node's registry travels to the master when it joins. CADRE_ERR_ARGUMENT for a null or
 * empty name or a null handler, CADRE_ERR_REGISTRY for a name already registered,
 * CADRE_ERR_STATE once serving has begun.
 */
int cadre_register(const char* name, cadre_handler handler, void* user);

/**
 * Joins the job and serves the master's calls until the master stops this node
 * (stop_node) or shuts the job down. Returns the job's status as the node sees it (0 =
 * clean), or CADRE_ERR_RUNTIME when the node could not join (a registry the job refuses,
 * no master, MPI failed; cadre_last_error() says which) or is rank 0 (a native node cannot
 * be the master).
 */
int cadre_serve(void);

/**
 * Ends the node's library state: MPI is finalized (when cadre_serve joined). Returns the
 * status cadre_serve returned, for main() to return. Idempotent.
 */
int cadre_stop(void);

/**
 * Logs a printf-formatted line at `level`: while serving it is printed once, by the master,
 * as the log lines of every node are (and dropped below the job's log level); before
 * cadre_serve and after it ends, it is printed on this process's stderr.
 */
int cadre_log(int level, const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/** This node's id while serving; -1 before cadre_serve has joined and after it ends. */
long cadre_node_id(void);

/** malloc(size): the allocator a handler's output comes from (the library calls free()). */
void* cadre_alloc(size_t size);

/** What the last failed cadre_* call on this thread said (never NULL; "" when none). */
const char* cadre_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* CADRE_CADRE_H */
