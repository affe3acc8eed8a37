/* A realtime-detect alert subscriber in C with plain libzmq: one "TOPIC JSON" line per message.
 *
 * Build (Debian: apt-get install gcc libzmq3-dev):  cc -O2 -Wall -o subscriber subscriber.c -lzmq
 *   (or `make -C examples`)
 * Run:  ./subscriber [--topic seizure.] [--count N] [--timeout-s S]
 *                    [--server-key server.key --client-key NAME.key_secret] tcp://127.0.0.1:5556
 *
 * Subscribes to the topic prefix (default "seizure.": onset, offset, reannounce, prolonged, ack; "" for all) on
 * the daemon's PUB socket. Every message is two frames, [topic, JSON]; the JSON follows
 * schemas/alert-message.schema.json. Exit 0 after N messages (--count, 0 = never), 1 when
 * --timeout-s (0 = never) passes first or on an error, 2 on bad usage. With --server-key and
 * --client-key (key files made by realtime-keys) it is a CurveZMQ client that accepts only the
 * daemon holding that server key; a forged server fails the handshake and nothing is printed.
 * This sketch does not ask the replay socket for messages missed while it was not connected
 * (realtime-alerts does: docs/daemon.md).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Copy the 40-character Z85 key after `field = "` in a key file (pyzmq's zmq.auth format). */
static int read_key(const char *path, const char *field, char key[41]) {
    char line[512];
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); return -1; }
    size_t n = strlen(field);
    int found = -1;
    while (found && fgets(line, sizeof line, f)) {
        char *p = line + strspn(line, " \t");
        if (strncmp(p, field, n) == 0 && (p = strchr(p + n, '"')) && strlen(p + 1) > 40 && p[41] == '"') {
            memcpy(key, p + 1, 40);
            key[40] = '\0';
            found = 0;
        }
    }
    fclose(f);
    if (found) fprintf(stderr, "%s: no %s in this key file\n", path, field);
    return found;
}

/* A number >= 0 from an option's value, or -1 (with a message quoting it) when it is not one. */
static double number(const char *option, const char *text) {
    char *end;
    double x = strtod(text, &end);
    if (end == text || *end || !(x >= 0 && x < 1e9)) {
        fprintf(stderr, "%s: expected a number >= 0, got '%s'\n", option, text);
        return -1;
    }
    return x;
}

int main(int argc, char **argv) {
    const char *topic = "seizure.", *endpoint = NULL, *server_key = NULL, *client_key = NULL;
    long count = 0, timeout_ms = 0, got = 0;
    for (int i = 1; i < argc; i++) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--topic") && val) topic = argv[++i];
        else if (!strcmp(argv[i], "--count") && val) { count = (long)number(argv[i], val); i++; }
        else if (!strcmp(argv[i], "--timeout-s") && val) { timeout_ms = (long)(number(argv[i], val) * 1000); i++; }
        else if (!strcmp(argv[i], "--server-key") && val) server_key = argv[++i];
        else if (!strcmp(argv[i], "--client-key") && val) client_key = argv[++i];
        else if (argv[i][0] != '-' && !endpoint) endpoint = argv[i];
        else { endpoint = NULL; break; }
    }
    if (!endpoint || count < 0 || timeout_ms < 0 || !server_key != !client_key) {
        fprintf(stderr, "usage: %s [--topic PREFIX] [--count N] [--timeout-s S] "
                        "[--server-key FILE --client-key FILE] ENDPOINT\n", argv[0]);
        return 2;
    }
    void *ctx = zmq_ctx_new(), *sub = zmq_socket(ctx, ZMQ_SUB);
    int linger = 0, rc = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    if (server_key) {
        char server_pub[41], client_pub[41], client_sec[41];
        if (!zmq_has("curve")) { fprintf(stderr, "this libzmq has no CURVE support\n"); return 1; }
        if (read_key(server_key, "public-key", server_pub) || read_key(client_key, "public-key", client_pub)
            || read_key(client_key, "secret-key", client_sec))
            return 1;
        rc |= zmq_setsockopt(sub, ZMQ_CURVE_SERVERKEY, server_pub, 40);
        rc |= zmq_setsockopt(sub, ZMQ_CURVE_PUBLICKEY, client_pub, 40);
        rc |= zmq_setsockopt(sub, ZMQ_CURVE_SECRETKEY, client_sec, 40);
    }
    rc |= zmq_setsockopt(sub, ZMQ_SUBSCRIBE, topic, strlen(topic));
    if (rc || zmq_connect(sub, endpoint)) {
        fprintf(stderr, "cannot connect to %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        return 1;
    }
    long deadline = now_ms() + timeout_ms;
    while (count == 0 || got < count) {
        long left = timeout_ms ? deadline - now_ms() : -1;
        zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
        if (timeout_ms && left <= 0) break;
        if (zmq_poll(&item, 1, left) < 0) break; /* interrupted (Ctrl-C) */
        if (!(item.revents & ZMQ_POLLIN)) continue;
        zmq_msg_t frame[2];
        int parts = 0, more = 1;
        while (more) { /* read every frame of the message; keep the first two */
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, sub, 0) < 0) { zmq_msg_close(&part); break; }
            more = zmq_msg_more(&part);
            if (parts < 2) frame[parts] = part; else zmq_msg_close(&part);
            parts++;
        }
        if (parts == 2) {
            printf("%.*s %.*s\n", (int)zmq_msg_size(&frame[0]), (char *)zmq_msg_data(&frame[0]),
                   (int)zmq_msg_size(&frame[1]), (char *)zmq_msg_data(&frame[1]));
            fflush(stdout);
            got++;
        } else {
            fprintf(stderr, "ignored a message of %d frames (expected [topic, JSON])\n", parts);
        }
        for (int i = 0; i < parts && i < 2; i++) zmq_msg_close(&frame[i]);
    }
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return count > 0 && got >= count ? 0 : 1;
}
