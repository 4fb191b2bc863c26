/* Demo tasks: templates with phrasings and slot values taken from the demo
 * database, the held-out split, and the gold results (see demo.h). */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"
#include "env.h"

/* A template. {N} in the phrasings, the SQL and the check stands for the
 * N-th column of a row of `cand` (in SQL with single quotes doubled).
 * check, when set, is a query whose first column must hold distinct values
 * (no ties in an ordering key). The last phrasing is the held-out one. */
typedef struct tmpl {
    const char *name;
    const char *tables;
    int ignore_order;
    const char *cand;
    const char *sql;
    const char *check;
    const char *q[5];
} tmpl;

#define UNIQUE_CUSTOMERS(extra)                                                                    \
    "SELECT first_name, last_name FROM customers " extra " GROUP BY first_name, last_name "        \
    "HAVING COUNT(*) = 1 ORDER BY 1, 2"
#define YEARS "SELECT DISTINCT strftime('%Y', order_date) FROM orders ORDER BY 1"
#define REVENUE "ROUND(SUM(oi.quantity * oi.unit_price), 2)"

static const tmpl g_tmpl[] = {
    {"customer_email",
     "customers",
     0,
     UNIQUE_CUSTOMERS("WHERE email IS NOT NULL"),
     "SELECT email FROM customers WHERE first_name = '{0}' AND last_name = '{1}'",
     NULL,
     {"What is the email address of the customer named {0} {1}?",
      "Find the email of customer {0} {1}.", "Give me {0} {1}'s email address.",
      "Which email address do we have on file for the customer {0} {1}?"}},
    {"product_price",
     "products",
     0,
     "SELECT name FROM products ORDER BY 1",
     "SELECT price FROM products WHERE name = '{0}'",
     NULL,
     {"What is the price of the product '{0}'?", "How much does the '{0}' cost?",
      "Look up the price of the product named '{0}'.", "Tell me the listed price for '{0}'."}},
    {"products_over_price",
     "products",
     1,
     "SELECT c.category, t.x FROM (SELECT DISTINCT category FROM products) c CROSS JOIN (SELECT "
     "50 AS x UNION ALL SELECT 100 UNION ALL SELECT 150 UNION ALL SELECT 200) t ORDER BY 1, 2",
     "SELECT name FROM products WHERE category = '{0}' AND price > {1}",
     NULL,
     {"List the names of {0} products that cost more than {1} dollars.",
      "Which products in the {0} category are priced above {1}?",
      "Show every {0} product with a price over {1}.",
      "Name the {0} items whose price exceeds {1} dollars."}},
    {"customers_in_city",
     "customers",
     0,
     "SELECT DISTINCT city FROM customers ORDER BY 1",
     "SELECT COUNT(*) FROM customers WHERE city = '{0}'",
     NULL,
     {"How many customers are from {0}?", "Count the customers who live in {0}.",
      "What is the number of customers located in {0}?",
      "How many of our customers are based in {0}?"}},
    {"orders_status_year",
     "orders",
     0,
     "SELECT DISTINCT status, strftime('%Y', order_date) FROM orders ORDER BY 1, 2",
     "SELECT COUNT(*) FROM orders WHERE status = '{0}' AND strftime('%Y', order_date) = '{1}'",
     NULL,
     {"How many orders with status '{0}' were placed in {1}?",
      "Count the orders from {1} whose status is '{0}'.",
      "In {1}, how many orders ended up with the status '{0}'?",
      "What number of orders placed during {1} have the status '{0}'?"}},
    {"customers_per_city",
     "customers",
     1,
     "SELECT DISTINCT country FROM customers ORDER BY 1",
     "SELECT city, COUNT(*) AS customers FROM customers WHERE country = '{0}' GROUP BY city",
     NULL,
     {"For each city in {0}, how many customers are there?",
      "Count the customers per city for {0}.", "Give the number of customers in every city of {0}.",
      "Break down our customers in {0} by city, with a count for each."}},
    {"revenue_per_category",
     "order_items,orders,products",
     1,
     YEARS,
     "SELECT p.category, " REVENUE " AS revenue FROM order_items oi JOIN orders o ON o.order_id "
     "= oi.order_id JOIN products p ON p.product_id = oi.product_id WHERE strftime('%Y', "
     "o.order_date) = '{0}' GROUP BY p.category",
     NULL,
     {"What was the revenue of each product category in {0}? Revenue is quantity times unit "
      "price.",
      "For every category, total the revenue (quantity times unit price) of orders placed in "
      "{0}.",
      "Show each product category with its {0} revenue, counting quantity times unit price.",
      "Per product category, how much revenue (quantity times unit price) came from orders of "
      "{0}?"}},
    {"customer_order_count",
     "customers,orders",
     0,
     UNIQUE_CUSTOMERS(""),
     "SELECT COUNT(*) FROM orders o JOIN customers c ON c.customer_id = o.customer_id WHERE "
     "c.first_name = '{0}' AND c.last_name = '{1}'",
     NULL,
     {"How many orders has {0} {1} placed?", "Count the orders made by the customer {0} {1}.",
      "What is the total number of orders from customer {0} {1}?",
      "How many times has {0} {1} ordered from us?"}},
    {"category_revenue_year",
     "order_items,orders,products",
     0,
     "SELECT DISTINCT p.category, strftime('%Y', o.order_date) FROM order_items oi JOIN orders o "
     "ON o.order_id = oi.order_id JOIN products p ON p.product_id = oi.product_id ORDER BY 1, 2",
     "SELECT " REVENUE " FROM order_items oi JOIN orders o ON o.order_id = oi.order_id JOIN "
     "products p ON p.product_id = oi.product_id WHERE p.category = '{0}' AND strftime('%Y', "
     "o.order_date) = '{1}'",
     NULL,
     {"What was the total revenue from {0} products in {1}, counting quantity times unit price?",
      "How much did {0} products bring in during {1} (quantity times unit price)?",
      "Sum quantity times unit price over all {0} order lines of {1}.",
      "In {1}, what revenue (quantity times unit price) did the {0} category make?"}},
    {"employees_in_department",
     "employees,departments",
     1,
     "SELECT name FROM departments ORDER BY 1",
     "SELECT e.first_name, e.last_name FROM employees e JOIN departments d ON d.department_id = "
     "e.department_id WHERE d.name = '{0}'",
     NULL,
     {"List the first and last names of the employees in the {0} department.",
      "Who works in the {0} department? Give first and last names.",
      "Name every employee of the {0} department (first and last name).",
      "Which employees belong to {0}? Show their first and last names."}},
    {"top_products_in_category",
     "order_items,products",
     1,
     "SELECT DISTINCT p.category, k.k, k.k + 1 FROM products p CROSS JOIN (SELECT 3 AS k UNION "
     "ALL SELECT 5) k ORDER BY 1, 2",
     "SELECT p.name, SUM(oi.quantity) AS units FROM order_items oi JOIN products p ON "
     "p.product_id = oi.product_id WHERE p.category = '{0}' GROUP BY p.product_id ORDER BY units "
     "DESC LIMIT {1}",
     "SELECT SUM(oi.quantity) AS units FROM order_items oi JOIN products p ON p.product_id = "
     "oi.product_id WHERE p.category = '{0}' GROUP BY p.product_id ORDER BY units DESC LIMIT {2}",
     {"Which {1} {0} products sold the most units? Give each name and its total quantity.",
      "Find the top {1} products of the {0} category by total quantity sold, with the "
      "quantities.",
      "List the {1} best-selling {0} products by units sold and how many units each sold.",
      "What are the {1} {0} products with the highest number of units ordered, and their unit "
      "counts?"}},
    {"top_customers_in_country",
     "customers,orders,order_items",
     1,
     "SELECT DISTINCT c.country, k.k, k.k + 1 FROM customers c CROSS JOIN (SELECT 3 AS k UNION "
     "ALL SELECT 5) k ORDER BY 1, 2",
     "SELECT c.first_name, c.last_name, " REVENUE " AS spent FROM customers c JOIN orders o ON "
     "o.customer_id = c.customer_id JOIN order_items oi ON oi.order_id = o.order_id WHERE "
     "c.country = '{0}' GROUP BY c.customer_id ORDER BY spent DESC LIMIT {1}",
     "SELECT " REVENUE " AS spent FROM customers c JOIN orders o ON o.customer_id = "
     "c.customer_id JOIN order_items oi ON oi.order_id = o.order_id WHERE c.country = '{0}' "
     "GROUP BY c.customer_id ORDER BY spent DESC LIMIT {2}",
     {"Who are the top {1} customers from {0} by total amount spent (quantity times unit "
      "price)? Give first name, last name and the amount.",
      "Find the {1} customers in {0} who spent the most, summing quantity times unit price; show "
      "their names and totals.",
      "List the {1} biggest spenders among customers from {0} (first name, last name, total of "
      "quantity times unit price).",
      "Which {1} customers based in {0} have the largest total spend (quantity times unit "
      "price)? Include their names and the totals."}},
    {"orders_in_month",
     "orders",
     0,
     "WITH m(num, name) AS (VALUES ('01', 'January'), ('02', 'February'), ('03', 'March'), "
     "('04', 'April'), ('05', 'May'), ('06', 'June'), ('07', 'July'), ('08', 'August'), ('09', "
     "'September'), ('10', 'October'), ('11', 'November'), ('12', 'December')) SELECT DISTINCT "
     "strftime('%Y', o.order_date), m.num, m.name FROM orders o JOIN m ON m.num = strftime('%m', "
     "o.order_date) ORDER BY 1, 2",
     "SELECT COUNT(*) FROM orders WHERE strftime('%Y-%m', order_date) = '{0}-{1}'",
     NULL,
     {"How many orders were placed in {2} {0}?", "Count the orders dated in {2} {0}.",
      "What is the number of orders from {2} of {0}?",
      "During {2} {0}, how many orders did we receive?"}},
    {"hires_in_year",
     "employees",
     0,
     "SELECT DISTINCT strftime('%Y', hire_date) FROM employees ORDER BY 1",
     "SELECT COUNT(*) FROM employees WHERE strftime('%Y', hire_date) = '{0}'",
     NULL,
     {"How many employees were hired in {0}?", "Count the employees whose hire date is in {0}.",
      "What number of staff members joined the company in {0}?",
      "How many people did we hire during {0}?"}},
    {"customers_without_email",
     "customers",
     0,
     "SELECT DISTINCT country FROM customers WHERE email IS NULL ORDER BY 1",
     "SELECT COUNT(*) FROM customers WHERE country = '{0}' AND email IS NULL",
     NULL,
     {"How many customers from {0} have no email address on file?",
      "Count the customers in {0} whose email is missing.",
      "For how many {0} customers do we lack an email address?",
      "What is the number of customers in {0} without an email?"}},
    {"customers_without_phone",
     "customers",
     1,
     "SELECT DISTINCT city FROM customers WHERE phone IS NULL ORDER BY 1",
     "SELECT first_name, last_name FROM customers WHERE city = '{0}' AND phone IS NULL",
     NULL,
     {"List the first and last names of customers in {0} who have no phone number.",
      "Which customers from {0} are missing a phone number? Give first and last names.",
      "Show the names (first and last) of {0} customers without a phone number.",
      "Who among our customers in {0} has no phone number recorded? First and last names."}},
    {"categories_bought_by_customer",
     "customers,orders,order_items,products",
     1,
     UNIQUE_CUSTOMERS(""),
     "SELECT DISTINCT p.category FROM customers c JOIN orders o ON o.customer_id = c.customer_id "
     "JOIN order_items oi ON oi.order_id = o.order_id JOIN products p ON p.product_id = "
     "oi.product_id WHERE c.first_name = '{0}' AND c.last_name = '{1}'",
     NULL,
     {"Which distinct product categories has {0} {1} bought?",
      "List the different categories of products that {0} {1} has ordered.",
      "What product categories appear in the orders of {0} {1}? List each once.",
      "From which categories has the customer {0} {1} purchased products?"}},
    {"distinct_buyers_category_year",
     "orders,order_items,products",
     0,
     "SELECT DISTINCT p.category, strftime('%Y', o.order_date) FROM order_items oi JOIN orders o "
     "ON o.order_id = oi.order_id JOIN products p ON p.product_id = oi.product_id ORDER BY 1, 2",
     "SELECT COUNT(DISTINCT o.customer_id) FROM orders o JOIN order_items oi ON oi.order_id = "
     "o.order_id JOIN products p ON p.product_id = oi.product_id WHERE p.category = '{0}' AND "
     "strftime('%Y', o.order_date) = '{1}'",
     NULL,
     {"How many distinct customers bought {0} products in {1}?",
      "Count the different customers who ordered something from {0} during {1}.",
      "In {1}, how many unique customers purchased at least one {0} product?",
      "What number of distinct customers placed orders containing {0} items in {1}?"}},
    {"cities_with_many_customers",
     "customers",
     1,
     "SELECT c.country, t.n FROM (SELECT DISTINCT country FROM customers) c CROSS JOIN (SELECT "
     "10 AS n UNION ALL SELECT 15 UNION ALL SELECT 20) t ORDER BY 1, 2",
     "SELECT city FROM customers WHERE country = '{0}' GROUP BY city HAVING COUNT(*) >= {1}",
     NULL,
     {"Which cities in {0} have at least {1} customers?",
      "List the {0} cities with {1} or more customers.",
      "Find every city of {0} where we have no fewer than {1} customers.",
      "In {0}, which cities count {1} customers or more?"}},
    {"frequent_customers",
     "customers,orders",
     1,
     "SELECT n FROM (SELECT 6 AS n UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9 UNION "
     "ALL SELECT 10 UNION ALL SELECT 11) ORDER BY 1",
     "SELECT c.first_name, c.last_name FROM customers c JOIN orders o ON o.customer_id = "
     "c.customer_id GROUP BY c.customer_id HAVING COUNT(*) > {0}",
     NULL,
     {"Which customers have placed more than {0} orders? Give their first and last names.",
      "List the first and last names of customers with over {0} orders.",
      "Find the customers who ordered more than {0} times (first and last name).",
      "Who has made more than {0} orders? Show first and last names."}},
    {"manager_of_employee",
     "employees",
     0,
     "SELECT first_name, last_name FROM employees GROUP BY first_name, last_name HAVING "
     "COUNT(*) = 1 AND MAX(manager_id) IS NOT NULL ORDER BY 1, 2",
     "SELECT m.first_name, m.last_name FROM employees e JOIN employees m ON m.employee_id = "
     "e.manager_id WHERE e.first_name = '{0}' AND e.last_name = '{1}'",
     NULL,
     {"Who is the manager of {0} {1}? Give the manager's first and last name.",
      "Find the first and last name of the person {0} {1} reports to.",
      "Which employee manages {0} {1}? Show first and last name.",
      "To whom does {0} {1} report? Give that manager's first and last name."}},
    {"department_salary",
     "employees,departments",
     0,
     "SELECT d.name, f.fn, f.word FROM departments d CROSS JOIN (SELECT 'AVG' AS fn, 'average' "
     "AS word UNION ALL SELECT 'MAX', 'highest' UNION ALL SELECT 'MIN', 'lowest') f ORDER BY 1, 2",
     "SELECT ROUND({1}(e.salary), 2) FROM employees e JOIN departments d ON d.department_id = "
     "e.department_id WHERE d.name = '{0}'",
     NULL,
     {"What is the {2} salary in the {0} department?",
      "Find the {2} salary among employees of the {0} department.",
      "Give the {2} employee salary in {0}.",
      "Across the {0} department, what is the {2} salary paid?"}},
    {"products_by_price",
     "products",
     0,
     "SELECT DISTINCT category FROM products ORDER BY 1",
     "SELECT name, price FROM products WHERE category = '{0}' ORDER BY price ASC",
     "SELECT price FROM products WHERE category = '{0}'",
     {"List the {0} products from the cheapest to the most expensive, with their prices.",
      "Show the names and prices of all {0} products, ordered by price ascending.",
      "Sort the {0} products by price, lowest first, and give name and price.",
      "Give every {0} product and its price, in increasing order of price."}},
};

#define NT ((int)ARRAY_LEN(g_tmpl))

int demo_template_count(void)
{
    return NT;
}

const char *demo_template_name(int t)
{
    return t >= 0 && t < NT ? g_tmpl[t].name : NULL;
}

int demo_template_phrasings(int t)
{
    int n = 0;
    while (t >= 0 && t < NT && n < 5 && g_tmpl[t].q[n])
        n++;
    return n;
}

void demo_opts_default(demo_opts *o)
{
    o->seed = 1;
    o->n_train = 300;
    o->n_eval = 60;
    o->n_sft = 50;
}

/* ---- slot values */

typedef struct combo {
    char **v;
    int n;
} combo;

typedef struct pool {
    combo *c;
    size_t n;
    size_t n_eval;  /* c[0, n_eval) are for evaluation, the rest for training */
    size_t next[2]; /* the next unused combination of each split */
} pool;

static void pool_free(pool *p)
{
    for (size_t i = 0; i < p->n; i++) {
        for (int k = 0; k < p->c[i].n; k++)
            free(p->c[i].v[k]);
        free(p->c[i].v);
    }
    free(p->c);
}

static int pool_load(sqlite3 *db, const char *path, const tmpl *t, pool *p, err_t *e)
{
    memset(p, 0, sizeof *p);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, t->cand, -1, &st, NULL) != SQLITE_OK)
        return err_set(e, "%s: template %s: %s", path, t->name, sqlite3_errmsg(db));
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (p->n == cap) {
            cap = cap ? 2 * cap : 64;
            p->c = xrealloc(p->c, cap * sizeof *p->c);
        }
        combo *c = &p->c[p->n++];
        c->n = sqlite3_column_count(st);
        c->v = xmalloc((size_t)c->n * sizeof *c->v);
        for (int k = 0; k < c->n; k++) {
            const unsigned char *s = sqlite3_column_text(st, k);
            c->v[k] = xstrdup(s ? (const char *)s : "");
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return err_set(e, "%s: template %s: %s", path, t->name, sqlite3_errmsg(db));
    return 0;
}

/* Appends fmt with {N} replaced by c's N-th value (quotes doubled when
 * sql). */
static void subst(const char *fmt, const combo *c, int sql, buf_t *out)
{
    for (const char *s = fmt; *s; s++) {
        if (s[0] == '{' && s[1] >= '0' && s[1] <= '9' && s[2] == '}' && s[1] - '0' < c->n) {
            for (const char *v = c->v[s[1] - '0']; *v; v++) {
                if (sql && *v == '\'')
                    buf_putc(out, '\'');
                buf_putc(out, *v);
            }
            s += 2;
        } else {
            buf_putc(out, *s);
        }
    }
}

/* ---- gold results */

static int run_sql(db_conn *conn, const char *sql, env_table *t, err_t *e)
{
    db_error de;
    db_cursor *cur;
    if (db_execute(conn, sql, NULL, &cur, &de) != 0)
        return err_set(e, "%s (in: %s)", de.message, sql);
    int rc =
        env_table_from_cursor(cur, 0, t, &de) != 0 ? err_set(e, "%s (in: %s)", de.message, sql) : 0;
    db_close_cursor(cur);
    return rc;
}

static int cell_eq(const env_table *t, const env_cell *a, const env_cell *b)
{
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case ENV_NULL:
        return 1;
    case ENV_FLOAT:
        return a->f == b->f;
    case ENV_TEXT:
        return a->len == b->len && !memcmp(env_cell_text(t, a), env_cell_text(t, b), a->len);
    default:
        return a->i == b->i;
    }
}

/* 1 when the first column's values are pairwise distinct. */
static int first_col_distinct(const env_table *t)
{
    for (size_t i = 0; i < t->nrows; i++)
        for (size_t j = i + 1; j < t->nrows; j++)
            if (cell_eq(t, env_table_cell(t, i, 0), env_table_cell(t, j, 0)))
                return 0;
    return 1;
}

/* Runs a combination's gold SQL; 1 when its answer is usable (csv set),
 * 0 when not (empty, a lone 0 or NULL, ties), -1 on a database error. */
static int try_combo(db_conn *conn, const tmpl *t, const combo *c, buf_t *sql, buf_t *csv, err_t *e)
{
    buf_reset(sql);
    subst(t->sql, c, 1, sql);
    env_table tab;
    env_table_init(&tab);
    int ok = -1;
    if (run_sql(conn, sql->data, &tab, e) != 0)
        goto out;
    ok = 0;
    if (tab.nrows == 0)
        goto out;
    if (tab.nrows == 1 && tab.cols.len == 1) {
        const env_cell *x = env_table_cell(&tab, 0, 0);
        if (x->kind == ENV_NULL || (x->kind == ENV_INT && x->i == 0) ||
            (x->kind == ENV_FLOAT && x->f == 0))
            goto out;
    }
    if (t->check) {
        buf_t chk;
        buf_init(&chk);
        subst(t->check, c, 1, &chk);
        env_table ct;
        env_table_init(&ct);
        int rc = run_sql(conn, chk.data, &ct, e);
        int distinct = rc == 0 && first_col_distinct(&ct);
        env_table_free(&ct);
        buf_free(&chk);
        if (rc != 0) {
            ok = -1;
            goto out;
        }
        if (!distinct)
            goto out;
    }
    buf_reset(csv);
    env_csv_write(&tab, csv);
    ok = 1;
out:
    env_table_free(&tab);
    return ok;
}

static void join_values(const combo *c, buf_t *out)
{
    for (int k = 0; k < c->n; k++) {
        if (k)
            buf_putc(out, '|');
        buf_puts(out, c->v[k]);
    }
}

/* Fisher-Yates with the template's own stream, so one template's pool
 * does not change another's order. */
static void shuffle(pool *p, uint64_t seed, int t)
{
    rng_t r;
    rng_seed_stream(&r, seed, 1000 + (uint64_t)t);
    for (size_t i = p->n; i > 1; i--) {
        size_t j = (size_t)(rng_next(&r) % i);
        combo tmp = p->c[i - 1];
        p->c[i - 1] = p->c[j];
        p->c[j] = tmp;
    }
}

void demo_taskset_free(demo_taskset *ts)
{
    for (size_t i = 0; i < ts->n; i++) {
        free(ts->items[i].values);
        free(ts->items[i].question);
        free(ts->items[i].sql);
        free(ts->items[i].csv);
    }
    free(ts->items);
    memset(ts, 0, sizeof *ts);
}

/* Takes `want` tasks of one split, one template after another (round
 * robin), so every template contributes while it has combinations left. */
static int take_split(db_conn *conn, pool *pools, int split, size_t want, rng_t *r,
                      demo_taskset *ts, err_t *e)
{
    buf_t sql, csv, q;
    buf_init(&sql), buf_init(&csv), buf_init(&q);
    size_t got = 0;
    int rc = 0;
    while (got < want) {
        int progress = 0;
        for (int t = 0; t < NT && got < want; t++) {
            pool *p = &pools[t];
            size_t end = split == DEMO_EVAL ? p->n_eval : p->n;
            size_t *i = &p->next[split];
            if (split == DEMO_TRAIN && *i < p->n_eval)
                *i = p->n_eval;
            while (*i < end) {
                const combo *c = &p->c[(*i)++];
                int ok = try_combo(conn, &g_tmpl[t], c, &sql, &csv, e);
                if (ok < 0) {
                    rc = -1;
                    goto out;
                }
                if (!ok)
                    continue;
                int np = demo_template_phrasings(t);
                int ph = split == DEMO_EVAL ? np - 1 : (int)(rng_next(r) % (uint64_t)(np - 1));
                demo_task *k = &ts->items[ts->n++];
                memset(k, 0, sizeof *k);
                got++;
                snprintf(k->id, sizeof k->id, "local_demo_%s_%04d",
                         split == DEMO_EVAL ? "eval" : "train", (int)got);
                k->split = split;
                k->tmpl = t;
                k->phrasing = ph;
                buf_reset(&q);
                join_values(c, &q);
                k->values = xstrdup(q.data);
                buf_reset(&q);
                subst(g_tmpl[t].q[ph], c, 0, &q);
                k->question = xstrdup(q.data);
                k->sql = xstrdup(sql.data);
                k->csv = xstrdup(csv.data);
                k->ignore_order = g_tmpl[t].ignore_order;
                k->tables = g_tmpl[t].tables;
                progress = 1;
                break;
            }
        }
        if (!progress)
            break;
    }
    if (got < want)
        rc = err_set(e,
                     "only %zu distinct %s questions can be made from the demo database "
                     "(asked for %zu)",
                     got, split == DEMO_EVAL ? "evaluation" : "training", want);
out:
    buf_free(&sql), buf_free(&csv), buf_free(&q);
    return rc;
}

int demo_tasks_make(const char *db_path, const demo_opts *o, demo_taskset *ts, err_t *e)
{
    memset(ts, 0, sizeof *ts);
    if (o->n_train < 0 || o->n_eval < 0)
        return err_set(e, "task counts must be >= 0");
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        err_set(e, "%s: %s", db_path, db ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close(db);
        return -1;
    }
    pool pools[NT];
    memset(pools, 0, sizeof pools);
    int rc = -1;
    db_conn *conn = NULL;
    for (int t = 0; t < NT; t++) {
        if (pool_load(db, db_path, &g_tmpl[t], &pools[t], e) != 0)
            goto out;
        shuffle(&pools[t], o->seed, t);
        pools[t].n_eval = pools[t].n / 5 ? pools[t].n / 5 : 1;
        if (pools[t].n_eval > pools[t].n)
            pools[t].n_eval = pools[t].n;
    }
    buf_t url;
    buf_init(&url);
    buf_printf(&url, "sqlite:///%s", db_path);
    db_options dopt = {.read_only = 1};
    conn = db_new(url.data, &dopt, e);
    buf_free(&url);
    if (!conn)
        goto out;
    ts->items = xcalloc((size_t)o->n_train + (size_t)o->n_eval + 1, sizeof *ts->items);
    rng_t r;
    rng_seed_stream(&r, o->seed, 2000);
    if (take_split(conn, pools, DEMO_TRAIN, (size_t)o->n_train, &r, ts, e) != 0)
        goto out;
    ts->n_train = ts->n;
    if (take_split(conn, pools, DEMO_EVAL, (size_t)o->n_eval, &r, ts, e) != 0)
        goto out;
    ts->n_eval = ts->n - ts->n_train;
    rc = 0;
out:
    if (conn)
        db_free(conn);
    for (int t = 0; t < NT; t++)
        pool_free(&pools[t]);
    sqlite3_close(db);
    if (rc != 0)
        demo_taskset_free(ts);
    return rc;
}
