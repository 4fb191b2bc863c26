/* The demo database: a small shop in one SQLite file, built from word
 * lists and a seeded rng (see demo.h). */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"

const char *const demo_table_names[6] = {"departments", "employees", "customers",
                                         "products",    "orders",    "order_items"};

static const char *const g_first[] = {
    "James",  "Mary",   "Robert", "Patricia", "John",   "Jennifer", "Michael", "Linda",
    "David",  "Sophie", "Lucas",  "Emma",     "Noah",   "Olivia",   "Liam",    "Ava",
    "Mateo",  "Isabel", "Hugo",   "Clara",    "Felix",  "Marta",    "Oskar",   "Elena",
    "Pablo",  "Lucia",  "Jonas",  "Anna",     "Tomas",  "Ingrid",   "Pierre",  "Camille",
    "Marco",  "Giulia", "Kenji",  "Yuki",     "Arjun",  "Priya",    "Omar",    "Leila",
    "Daniel", "Sarah",  "Victor", "Nina",     "Samuel", "Grace",    "Henry",   "Alice",
};
static const char *const g_last[] = {
    "Smith",    "Johnson", "Brown",   "Garcia", "Miller",   "Davis",    "Martin",  "Lopez",
    "Wilson",   "Moore",   "Taylor",  "Thomas", "Lee",      "Walker",   "Hall",    "Young",
    "King",     "Wright",  "Scott",   "Green",  "Baker",    "Adams",    "Nelson",  "Carter",
    "Mitchell", "Perez",   "Roberts", "Turner", "Phillips", "Campbell", "Parker",  "Evans",
    "Edwards",  "Collins", "Stewart", "Morris", "Rossi",    "Muller",   "Schmidt", "Dubois",
    "Moreau",   "Fischer", "Weber",   "Novak",  "Silva",    "Santos",   "Tanaka",  "Sato",
};
static const struct {
    const char *city, *country;
} g_cities[] = {
    {"New York", "USA"},    {"Chicago", "USA"},      {"Seattle", "USA"},
    {"Austin", "USA"},      {"Boston", "USA"},       {"Toronto", "Canada"},
    {"Montreal", "Canada"}, {"Vancouver", "Canada"}, {"London", "UK"},
    {"Manchester", "UK"},   {"Edinburgh", "UK"},     {"Berlin", "Germany"},
    {"Munich", "Germany"},  {"Hamburg", "Germany"},  {"Paris", "France"},
    {"Lyon", "France"},     {"Marseille", "France"}, {"Madrid", "Spain"},
    {"Barcelona", "Spain"}, {"Valencia", "Spain"},
};
static const struct {
    const char *name, *location;
} g_departments[] = {
    {"Executive", "New York"},  {"Sales", "Chicago"},          {"Marketing", "New York"},
    {"Engineering", "Seattle"}, {"Support", "Austin"},         {"Finance", "New York"},
    {"Logistics", "Chicago"},   {"Human Resources", "Boston"},
};
static const char *const g_titles[] = {"Associate", "Specialist", "Senior Specialist", "Analyst",
                                       "Coordinator"};
/* Category, then nouns for product names (adjective + noun, each pair once). */
static const struct {
    const char *category;
    const char *nouns[5];
    int min_cents, max_cents;
} g_categories[] = {
    {"Electronics", {"Headphones", "Speaker", "Charger", "Keyboard", "Monitor"}, 1500, 45000},
    {"Books", {"Cookbook", "Novel", "Atlas", "Journal", "Guide"}, 800, 6000},
    {"Home", {"Lamp", "Blanket", "Vase", "Kettle", "Clock"}, 1200, 20000},
    {"Sports", {"Racket", "Yoga Mat", "Helmet", "Backpack", "Water Bottle"}, 900, 25000},
    {"Toys", {"Puzzle", "Robot", "Kite", "Board Game", "Train Set"}, 700, 12000},
    {"Garden", {"Hose", "Shovel", "Planter", "Bird Feeder", "Sprinkler"}, 1000, 15000},
};
static const char *const g_adjectives[] = {"Classic", "Deluxe", "Compact", "Premium",
                                           "Eco",     "Smart",  "Vintage", "Ultra"};
static const char *const g_statuses[] = {"delivered", "shipped", "pending", "cancelled",
                                         "returned"};
static const int g_status_weights[] = {55, 20, 10, 10, 5}; /* percent */

#define N_EMPLOYEES 60
#define N_CUSTOMERS 300
#define PRODUCTS_PER_CATEGORY 10
#define N_ORDERS 1200

static uint64_t pick(rng_t *r, uint64_t n)
{
    return rng_next(r) % n;
}

/* Days since 1970-01-01 -> "YYYY-MM-DD" (proleptic Gregorian; Howard
 * Hinnant's civil_from_days). */
static void date_text(long days, char out[32])
{
    long z = days + 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long y = yoe + era * 400;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    long d = doy - (153 * mp + 2) / 5 + 1;
    long m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2)
        y++;
    snprintf(out, 32, "%04d-%02d-%02d", (int)(y % 10000), (int)m, (int)d);
}

/* Days since 1970-01-01 of Jan 1st of year y. */
static long year_start(long y)
{
    y -= 1; /* days before Jan 1st of y, counted from 0001-01-01 */
    long d = y * 365 + y / 4 - y / 100 + y / 400;
    return d - 719162; /* 719162: days from 0001-01-01 to 1970-01-01 */
}

static long random_day(rng_t *r, long y0, long y1)
{
    long a = year_start(y0), b = year_start(y1 + 1);
    return a + (long)pick(r, (uint64_t)(b - a));
}

typedef struct dbw {
    sqlite3 *db;
    const char *path;
    err_t *e;
} dbw;

static int exec_sql(dbw *w, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(w->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(w->e, "%s: %s", w->path, msg ? msg : sqlite3_errmsg(w->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Binds values given as a format: 'i' int64, 'd' double, 't' text (NULL
 * pointer: SQL NULL), 'n' NULL; then steps and resets. */
static int insert(dbw *w, sqlite3_stmt *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (int i = 0; fmt[i]; i++) {
        int k = i + 1;
        switch (fmt[i]) {
        case 'i': {
            int64_t v = va_arg(ap, int64_t);
            sqlite3_bind_int64(st, k, v);
            break;
        }
        case 'd':
            sqlite3_bind_double(st, k, va_arg(ap, double));
            break;
        case 't': {
            const char *s = va_arg(ap, const char *);
            if (s)
                sqlite3_bind_text(st, k, s, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, k);
            break;
        }
        default:
            sqlite3_bind_null(st, k);
        }
    }
    va_end(ap);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return err_set(w->e, "%s: insert: %s", w->path, sqlite3_errmsg(w->db));
    return 0;
}

static const char g_schema[] =
    "CREATE TABLE departments (\n"
    "  department_id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  location TEXT NOT NULL,\n"
    "  budget INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE employees (\n"
    "  employee_id INTEGER PRIMARY KEY,\n"
    "  first_name TEXT NOT NULL,\n"
    "  last_name TEXT NOT NULL,\n"
    "  email TEXT,\n"
    "  title TEXT NOT NULL,\n"
    "  department_id INTEGER NOT NULL REFERENCES departments(department_id),\n"
    "  manager_id INTEGER REFERENCES employees(employee_id),\n"
    "  hire_date TEXT NOT NULL,\n"
    "  salary INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE customers (\n"
    "  customer_id INTEGER PRIMARY KEY,\n"
    "  first_name TEXT NOT NULL,\n"
    "  last_name TEXT NOT NULL,\n"
    "  email TEXT,\n"
    "  phone TEXT,\n"
    "  city TEXT NOT NULL,\n"
    "  country TEXT NOT NULL,\n"
    "  signup_date TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE products (\n"
    "  product_id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  category TEXT NOT NULL,\n"
    "  price REAL NOT NULL,\n"
    "  stock INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE orders (\n"
    "  order_id INTEGER PRIMARY KEY,\n"
    "  customer_id INTEGER NOT NULL REFERENCES customers(customer_id),\n"
    "  employee_id INTEGER NOT NULL REFERENCES employees(employee_id),\n"
    "  order_date TEXT NOT NULL,\n"
    "  status TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE order_items (\n"
    "  order_item_id INTEGER PRIMARY KEY,\n"
    "  order_id INTEGER NOT NULL REFERENCES orders(order_id),\n"
    "  product_id INTEGER NOT NULL REFERENCES products(product_id),\n"
    "  quantity INTEGER NOT NULL,\n"
    "  unit_price REAL NOT NULL\n"
    ");\n";

static void lower_email(buf_t *b, const char *first, const char *last, long n, const char *domain)
{
    buf_reset(b);
    for (const char *p = first; *p; p++)
        buf_putc(b, (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p));
    buf_putc(b, '.');
    for (const char *p = last; *p; p++)
        buf_putc(b, (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p));
    buf_printf(b, "%ld@%s", n, domain);
}

static int fill(dbw *w, rng_t *r, long counts[6])
{
    sqlite3_stmt *st[6] = {0};
    static const char *const ins[6] = {
        "INSERT INTO departments VALUES (?, ?, ?, ?)",
        "INSERT INTO employees VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        "INSERT INTO products VALUES (?, ?, ?, ?, ?)",
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?)",
        "INSERT INTO order_items VALUES (?, ?, ?, ?, ?)",
    };
    int rc = -1;
    buf_t email;
    buf_init(&email);
    char date[32];
    double prices[ARRAY_LEN(g_categories) * PRODUCTS_PER_CATEGORY];
    for (int i = 0; i < 6; i++) {
        counts[i] = 0;
        if (sqlite3_prepare_v2(w->db, ins[i], -1, &st[i], NULL) != SQLITE_OK) {
            err_set(w->e, "%s: %s", w->path, sqlite3_errmsg(w->db));
            goto out;
        }
    }
    /* departments: one each, budgets in thousands */
    int ndep = (int)ARRAY_LEN(g_departments);
    for (int i = 0; i < ndep; i++) {
        if (insert(w, st[0], "itti", (int64_t)(i + 1), g_departments[i].name,
                   g_departments[i].location, (int64_t)(200 + pick(r, 1800)) * 1000) != 0)
            goto out;
        counts[0]++;
    }
    /* employees: 1 leads the company (no manager), 1..ndep head the
     * departments (reporting to 1), the rest report to their head. */
    for (int i = 1; i <= N_EMPLOYEES; i++) {
        const char *fn = g_first[pick(r, ARRAY_LEN(g_first))];
        const char *ln = g_last[pick(r, ARRAY_LEN(g_last))];
        int dep = i <= ndep ? i : 1 + (int)pick(r, (uint64_t)ndep);
        int64_t mgr = i == 1 ? 0 : i <= ndep ? 1 : dep;
        const char *title = i == 1      ? "Chief Executive"
                            : i <= ndep ? "Head of Department"
                                        : g_titles[pick(r, ARRAY_LEN(g_titles))];
        int has_email = pick(r, 100) >= 12;
        lower_email(&email, fn, ln, i, "shop.example");
        date_text(random_day(r, i <= ndep ? 2012 : 2014, i == 1 ? 2012 : 2023), date);
        int64_t salary = (int64_t)(i == 1      ? 240000
                                   : i <= ndep ? 120000 + pick(r, 60) * 1000
                                               : 42000 + pick(r, 160) * 500);
        int e1 = mgr ? insert(w, st[1], "ittttiiti", (int64_t)i, fn, ln,
                              has_email ? email.data : NULL, title, (int64_t)dep, mgr, date, salary)
                     : insert(w, st[1], "ittttinti", (int64_t)i, fn, ln,
                              has_email ? email.data : NULL, title, (int64_t)dep, date, salary);
        if (e1 != 0)
            goto out;
        counts[1]++;
    }
    /* customers */
    for (int i = 1; i <= N_CUSTOMERS; i++) {
        const char *fn = g_first[pick(r, ARRAY_LEN(g_first))];
        const char *ln = g_last[pick(r, ARRAY_LEN(g_last))];
        size_t c = pick(r, ARRAY_LEN(g_cities));
        int has_email = pick(r, 100) >= 15, has_phone = pick(r, 100) >= 20;
        lower_email(&email, fn, ln, i, "mail.example");
        char phone[24];
        snprintf(phone, sizeof phone, "+1-555-%04d", (int)pick(r, 10000));
        date_text(random_day(r, 2019, 2023), date);
        if (insert(w, st[2], "ittttttt", (int64_t)i, fn, ln, has_email ? email.data : NULL,
                   has_phone ? phone : NULL, g_cities[c].city, g_cities[c].country, date) != 0)
            goto out;
        counts[2]++;
    }
    /* products: per category, PRODUCTS_PER_CATEGORY distinct adjective +
     * noun pairs, prices in whole cents */
    int pid = 0;
    for (size_t c = 0; c < ARRAY_LEN(g_categories); c++) {
        int used[ARRAY_LEN(g_adjectives) * 5] = {0};
        for (int k = 0; k < PRODUCTS_PER_CATEGORY; k++) {
            int u;
            do
                u = (int)pick(r, ARRAY_LEN(used));
            while (used[u]);
            used[u] = 1;
            char name[64];
            snprintf(name, sizeof name, "%s %s", g_adjectives[u / 5], g_categories[c].nouns[u % 5]);
            int span = g_categories[c].max_cents - g_categories[c].min_cents;
            double price = (g_categories[c].min_cents + (int)pick(r, (uint64_t)span)) / 100.0;
            prices[pid] = price;
            pid++;
            if (insert(w, st[3], "ittdi", (int64_t)pid, name, g_categories[c].category, price,
                       (int64_t)pick(r, 500)) != 0)
                goto out;
            counts[3]++;
        }
    }
    /* orders and their items: 1-4 distinct products each; a tenth of the
     * lines sold at 10% off */
    int64_t item = 0;
    for (int i = 1; i <= N_ORDERS; i++) {
        int w100 = (int)pick(r, 100), s = 0;
        for (int acc = g_status_weights[0]; w100 >= acc; acc += g_status_weights[++s])
            ;
        date_text(random_day(r, 2021, 2023), date);
        if (insert(w, st[4], "iiitt", (int64_t)i, (int64_t)(1 + pick(r, N_CUSTOMERS)),
                   (int64_t)(1 + pick(r, N_EMPLOYEES)), date, g_statuses[s]) != 0)
            goto out;
        counts[4]++;
        int nitems = 1 + (int)pick(r, 4), chosen[4];
        for (int k = 0; k < nitems; k++) {
            int p, dup;
            do {
                p = (int)pick(r, (uint64_t)pid);
                dup = 0;
                for (int j = 0; j < k; j++)
                    dup |= chosen[j] == p;
            } while (dup);
            chosen[k] = p;
            double unit = prices[p];
            if (pick(r, 10) == 0)
                unit = (double)(long)(unit * 90.0 + 0.5) / 100.0;
            if (insert(w, st[5], "iiiid", ++item, (int64_t)i, (int64_t)(p + 1),
                       (int64_t)(1 + pick(r, 6)), unit) != 0)
                goto out;
            counts[5]++;
        }
    }
    rc = 0;
out:
    for (int i = 0; i < 6; i++)
        sqlite3_finalize(st[i]);
    buf_free(&email);
    return rc;
}

int demo_db_create(const char *path, uint64_t seed, long counts[6], err_t *e)
{
    long local[6];
    if (!counts)
        counts = local;
    if (unlink(path) != 0 && errno != ENOENT)
        return err_set(e, "%s: %s", path, strerror(errno));
    dbw w = {.path = path, .e = e};
    if (sqlite3_open_v2(path, &w.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        err_set(e, "%s: %s", path, w.db ? sqlite3_errmsg(w.db) : "cannot open");
        sqlite3_close(w.db);
        return -1;
    }
    rng_t r;
    rng_seed(&r, seed);
    /* No journal: the file is written once, in one transaction, and
     * removed again if anything fails. */
    int rc = -1;
    if (exec_sql(&w, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; "
                     "PRAGMA foreign_keys = ON; BEGIN") != 0 ||
        exec_sql(&w, g_schema) != 0 || fill(&w, &r, counts) != 0 || exec_sql(&w, "COMMIT") != 0)
        goto out;
    rc = 0;
out:
    if (sqlite3_close(w.db) != SQLITE_OK && rc == 0)
        rc = err_set(e, "%s: %s", path, sqlite3_errmsg(w.db));
    if (rc != 0)
        unlink(path);
    return rc;
}
