/* Levelled, timestamped logging to stderr for the daemon and the agent. The level is checked
 * before the arguments are formatted, so a disabled log_debug costs one comparison. */
#ifndef SPOTSWEEP_LOG_H
#define SPOTSWEEP_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_LEVEL_MAX };

extern enum log_level log_threshold;

/* Sets the program name used as prefix ("spotsweep", "spotsweep-agent"). */
void log_set_program(const char *name);
const char *log_program(void);
/* Reads SPOTSWEEP_LOG (debug|info|warn|error) if set. */
void log_init_from_env(void);
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_threshold <= LOG_DEBUG) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  do { if (log_threshold <= LOG_INFO)  log_write(LOG_INFO,  __VA_ARGS__); } while (0)
#define log_warn(...)  do { if (log_threshold <= LOG_WARN)  log_write(LOG_WARN,  __VA_ARGS__); } while (0)
#define log_error(...) do { log_write(LOG_ERROR, __VA_ARGS__); } while (0)

/* Prints "PROGRAM: message" to stderr and exits with status code; for start-up failures. */
void fatal(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* Prints "PROGRAM: message" to stderr (the CLI's user-facing error line). */
void errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
