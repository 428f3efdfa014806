/* A write's life from its request to its answer. A write becomes a job: a group of commands
 * (one for a single write, up to 8,190 for a batch) plus what is needed to answer it later,
 * sent to the writer; the writer's done() posts the finished job back to the loop thread that
 * owns its request, which answers it.
 *
 * A job outlives its request when the client goes away first, so it is reference counted:
 * one reference for the request (dropped by the dispose callback of a guard allocated in
 * the request's pool, which also marks the job orphaned) and one for the writer (dropped
 * after the completion is handled on the loop thread). The completion answers only a job
 * that is not orphaned; an h2o_req_t is touched only on its own loop thread. */
#include <stdlib.h>

#include "http/internal.h"

static void job_release(http_job *j) {
    if (atomic_fetch_sub(&j->refs, 1) == 1) {
        if (j->group.cmds != &j->one) {
            free(j->group.cmds);
        }
        free(j);
    }
}

static void on_request_dispose(void *p) {
    http_job *j = *(http_job **)p;
    atomic_store(&j->orphaned, true);
    job_release(j);
}

/* Writer thread: hand the finished job to its loop. */
static void on_group_done(ws_group *g) {
    http_job *j = H2O_STRUCT_FROM_MEMBER(http_job, group, g);
    h2o_multithread_send_message(&j->owner->completions, &j->msg);
}

http_job *http_job_new(h2o_req_t *req, size_t n, http_answer_fn answer) {
    WS_ASSERT(n >= 1 && n <= WS_GROUP_MAX);
    http_job *j = calloc(1, sizeof(*j));
    ws_command *cmds = n == 1 || !j ? (j ? &j->one : NULL) : calloc(n, sizeof(ws_command));
    if (!j || !cmds) {
        free(j);
        http_send_error(req, WS_INTERNAL, "out of memory");
        return NULL;
    }
    j->group = (ws_group){cmds, n, on_group_done};
    j->req = req;
    j->owner = H2O_STRUCT_FROM_MEMBER(io_thread, ctx, req->conn->ctx);
    j->answer = answer;
    atomic_init(&j->refs, 2);
    http_job **guard = h2o_mem_alloc_shared(&req->pool, sizeof(http_job *), on_request_dispose);
    *guard = j;
    return j;
}

int http_job_submit(http_server *srv, h2o_req_t *req, http_job *j) {
    ws_status s = service_submit(srv->svc, &j->group);
    if (s == WS_OK) {
        return 0; /* answered later, by http_on_completions */
    }
    job_release(j); /* the writer will never see it */
    if (s == WS_OVERLOADED) {
        return http_send_error(req, s, "the write queue is full; retry in a moment");
    }
    return http_send_error(req, s, "%s", ws_status_message(s));
}

int http_submit_one(http_server *srv, h2o_req_t *req, const ws_command *c, http_answer_fn answer) {
    http_job *j = http_job_new(req, 1, answer);
    if (!j) {
        return 0;
    }
    ws_command *o = &j->one;
    *o = *c;
    if (o->kind == WS_CMD_CREATE_ACCOUNT) {
        o->account_given = o->account_len > 0;
        if (!o->account_given) {
            http_generate_id(o->account, &o->account_len);
        }
    } else {
        o->transfer_id_given = o->transfer_id_len > 0;
        if (!o->transfer_id_given) {
            http_generate_id(o->transfer_id, &o->transfer_id_len);
        }
    }
    return http_job_submit(srv, req, j);
}

void http_on_completions(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages) {
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        http_job *j = H2O_STRUCT_FROM_MEMBER(http_job, msg, m);
        if (!atomic_load(&j->orphaned)) {
            j->answer(j->req, j);
        }
        job_release(j);
    }
}

service_reader *http_reader(h2o_req_t *req) {
    service_reader *r = http_thread_of(req)->reader;
    WS_ASSERT(r != NULL); /* made by http_service_up, which the router asks first */
    return r;
}
