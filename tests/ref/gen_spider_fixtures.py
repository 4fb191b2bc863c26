"""Writes tests/fixtures/spider_pandas.json: what pandas makes of Spider 2.0
data, for tests/env/test_pandas_parity.c.

  /usr/bin/python3 tests/ref/gen_spider_fixtures.py   (Debian's python3-pandas)

- "read": for every gold CSV in ../shared/spider2/gold/exec_result, the
  dtypes pandas.read_csv infers and, per column, the SHA-256 of the values as
  evaluate.py sees them (.transpose().values.tolist(), missing values -> 0,
  str() of each, sorted by its ignore_order key, joined by newlines).
- "write": for SELECT * of every table of the shared SQLite databases, the
  SHA-256 of what evaluate.py writes (read_sql_query(chunksize=500) then
  to_csv(index=False) chunk by chunk).

pandas 2 reads "None" as missing; 1.5 (Debian 12) does not, so it is added
here to match the scorer's current pandas."""
import hashlib, io, json, os, sqlite3, sys

import pandas as pd

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
shared = os.path.join(root, "..", "shared", "spider2")
gold = os.path.join(shared, "gold", "exec_result")


def sha(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def keys(df, sort=True):
    out = []
    for col in df.transpose().values.tolist():
        col = [0 if pd.isna(x) else x for x in col]
        if sort:
            col = sorted(col, key=lambda x: (x is None, str(x), isinstance(x, (int, float))))
        out.append(sha("\n".join(str(x) for x in col)))
    return out


def dtype(d):
    return {"int64": "int", "float64": "float", "bool": "bool", "object": "object"}.get(str(d), str(d))


read = {}
for f in sorted(os.listdir(gold)):
    df = pd.read_csv(os.path.join(gold, f), na_values=["None"])
    read[f] = {"nrows": len(df), "dtypes": [dtype(d) for d in df.dtypes], "keys": keys(df)}

write = []
dbdir = os.path.join(shared, "databases")
for f in sorted(os.listdir(dbdir)):
    db = f[: -len(".sqlite")]
    conn = sqlite3.connect(os.path.join(dbdir, f))
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    for t in tables:
        sql = 'SELECT * FROM "%s"' % t
        buf = io.StringIO()
        for i, chunk in enumerate(pd.read_sql_query(sql, conn, chunksize=500)):
            chunk.to_csv(buf, header=(i == 0), index=False)
        text = buf.getvalue()
        write.append({"db": db, "sql": sql, "bytes": len(text.encode("utf-8")), "sha256": sha(text)})

json.dump({"read": read, "write": write}, open(os.path.join(root, "tests", "fixtures", "spider_pandas.json"), "w"),
          indent=0, sort_keys=True)
print("read %d files, wrote %d tables" % (len(read), len(write)), file=sys.stderr)
