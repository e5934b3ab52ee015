"""What the benchmark scripts of this directory share.

A private PostgreSQL cluster run as the postgres OS user from the tree in
$ECML_PGROOT (default: the system tree), psql runners (one persistent
session, or one process a call), machine facts, the environment of the
one-thread peers, locking, logging, a package check and timing helpers.  Each
script keeps its own port, directory, server settings and measurements:
whatever differs between them is a parameter here.

Call one_thread() before importing numpy or another numerical library: they
read the thread variables once, at import.
"""
import fcntl
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"
PGROOT = os.environ.get("ECML_PGROOT", "")
PG_BIN = PGROOT + "/usr/lib/postgresql/15/bin"
PG_SHARE = PGROOT + "/usr/share/postgresql/15"
PG_LIB = PGROOT + "/usr/lib/postgresql/15/lib"

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "BLIS_NUM_THREADS")


# --------------------------------------------------------------------------
# logging and processes


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def die(msg):
    print(f"ERROR: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(argv, **kw):
    return subprocess.run(argv, check=True, text=True, **kw)


def require_root(why="the cluster runs as the postgres OS user"):
    if os.geteuid() != 0:
        die(f"run as root ({why})")


def pgroot_prefix():
    """'ECML_PGROOT=... ' for a command line in a report, or ''."""
    return f"ECML_PGROOT={PGROOT} " if PGROOT else ""


# --------------------------------------------------------------------------
# one-thread peers


def one_thread(env=None):
    """Set the BLAS / OpenMP thread variables to 1 (in os.environ by default)."""
    env = os.environ if env is None else env
    for k in THREAD_VARS:
        env[k] = "1"
    return env


def peer_env(**extra):
    """A copy of the environment for a one-thread peer process, without the
    OpenBLAS tuning variables (the peer runs with its library's defaults)."""
    env = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(k, None)
    one_thread(env)
    env.update(extra)
    return env


PEER_ENV_PREFIX = ("env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE " +
                   " ".join(f"{k}=1" for k in THREAD_VARS))


# --------------------------------------------------------------------------
# setup


def ensure_packages(pkgs, pg_bin=PG_BIN):
    """apt-get install the Debian packages (and PostgreSQL 15) that are
    missing; die when ecml is not installed in the tree of pg_bin."""
    need = []
    for pkg in pkgs:
        r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", pkg],
                           capture_output=True, text=True)
        if r.stdout.strip() != "installed":
            need.append(pkg)
    if not os.path.exists(os.path.join(pg_bin, "initdb")):
        need.append("postgresql-15")
    if need:
        log(f"installing {' '.join(need)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + need,
            env=env, stdin=subprocess.DEVNULL)
    ext = run([os.path.join(pg_bin, "pg_config"), "--sharedir"],
              capture_output=True).stdout.strip()
    if not os.path.exists(os.path.join(ext, "extension", "ecml.control")):
        die("ecml is not installed: run `make && make install` first")


def lock(path):
    """Hold an exclusive lock on path for as long as the returned file is
    open, waiting (and saying so) while another run holds it."""
    f = open(path, "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log(f"waiting for another run holding {path}")
        fcntl.flock(f, fcntl.LOCK_EX)
    return f


# --------------------------------------------------------------------------
# machine facts


def cpu_model(default="?"):
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return default


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def memory_gib():
    """MemTotal as 'N.N GiB' ('?' when unknown)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "?"


def nproc():
    """nproc's answer (the CPUs this process may use), as text."""
    return run(["nproc"], capture_output=True).stdout.strip()


def loadavg():
    """The 1, 5 and 15 minute load averages as /proc/loadavg writes them."""
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def loadavg_2f():
    """The load averages with two decimals, as one string."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def git_describe():
    git = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                         capture_output=True, text=True)
    return git.stdout.strip() if git.returncode == 0 else "?"


def python_version():
    return platform.python_version()


def kernel():
    return platform.release()


# --------------------------------------------------------------------------
# the private cluster


class Cluster:
    """A cluster in DIR/data with its socket in DIR, listening on no TCP
    address, run as postgres from pg_bin; clients connect as postgres.

    conf: lines appended to postgresql.conf (the script's server settings;
    port, socket and listen_addresses are added here).  initdb_args: the
    authentication / encoding options of initdb.
    """

    def __init__(self, dir, port, conf=(), db="bench", pg_bin=PG_BIN, tag=None,
                 initdb_args=("--auth=trust", "--encoding=UTF8", "--locale=C")):
        self.dir, self.port, self.db, self.pg_bin = dir, port, db, pg_bin
        self.data = f"{dir}/data"
        self.conf = [f"port = {port}", "listen_addresses = ''",
                     f"unix_socket_directories = '{dir}'"] + list(conf)
        self.tag = tag or os.path.basename(sys.argv[0])
        self.initdb_args = list(initdb_args)

    def bin(self, prog):
        return os.path.join(self.pg_bin, prog)

    def pg_ctl(self, *args, check=True, env=()):
        """pg_ctl as postgres; env: NAME=VALUE words for the server's environment."""
        return subprocess.run(["runuser", "-u", "postgres", "--"]
                              + (["env"] + list(env) if env else [])
                              + [self.bin("pg_ctl"), "-D", self.data] + list(args),
                              cwd="/", text=True, capture_output=True, check=check)

    def running(self):
        return (os.path.exists(f"{self.data}/PG_VERSION") and
                self.pg_ctl("status", check=False).returncode == 0)

    def stop(self):
        if self.running():
            log(f"stopping the server in {self.data}")
            if self.pg_ctl("stop", "-m", "fast", "-w", "-t", "60", check=False).returncode:
                self.pg_ctl("stop", "-m", "immediate", "-w", "-t", "60", check=False)

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, env=()):
        log(f"starting server ({self.dir}/server.log)")
        r = self.pg_ctl("start", "-l", f"{self.dir}/server.log", "-w", "-t", "60",
                        check=False, env=env)
        if r.returncode:
            try:
                print(open(f"{self.dir}/server.log").read()[-3000:], file=sys.stderr)
            except OSError:
                pass
            die("server did not start")

    def restart(self, env=()):
        r = self.pg_ctl("restart", "-l", f"{self.dir}/server.log", "-w", "-t", "60",
                        check=False, env=env)
        if r.returncode:
            die("server did not restart")

    def create(self, extension=True):
        """A new cluster (the old one removed), started, with the database
        (and ecml in it unless extension=False); PG* point clients at it."""
        self.remove()
        log(f"creating cluster in {self.data} (port {self.port}) from {self.pg_bin}")
        os.makedirs(self.dir)
        shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        r = subprocess.run(["runuser", "-u", "postgres", "--", self.bin("initdb"),
                            f"--pgdata={self.data}", "--username=postgres"] + self.initdb_args,
                           cwd="/", text=True, capture_output=True)
        if r.returncode:
            die(f"initdb failed:\n{r.stdout}\n{r.stderr}")
        with open(f"{self.data}/postgresql.conf", "a") as f:
            f.write(f"# added by test/bench/{self.tag}\n" + "\n".join(self.conf) + "\n")
        self.start()
        self.client_env(os.environ)
        run([self.bin("psql"), "-X", "-q", "-d", "postgres", "-c", f"CREATE DATABASE {self.db}"])
        if extension:
            run([self.bin("psql"), "-X", "-q", "-d", self.db, "-c", "CREATE EXTENSION ecml"])

    def client_env(self, env=None):
        """PG* of env (a new dict from os.environ by default) set for this cluster."""
        env = dict(os.environ) if env is None else env
        env.update(PGHOST=self.dir, PGPORT=str(self.port), PGUSER="postgres")
        for k in ("PGDATABASE", "PGPASSWORD", "PGSERVICE", "PGOPTIONS"):
            env.pop(k, None)
        return env

    def psql_argv(self, db=None):
        """psql unaligned, tuples only, stopping at the first error."""
        return [self.bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-d", db or self.db]

    def psql(self, *args, db=None, input=None, text=True, check=True):
        """One psql process: args after the connection options (-c SQL ...)."""
        return subprocess.run(self.psql_argv(db) + list(args), input=input, text=text,
                              capture_output=True, check=check)


# --------------------------------------------------------------------------
# a persistent psql session


class SQLError(Exception):
    pass


class Psql:
    """One psql process, one backend: statements in, rows and \\timing out.

    setup: statements run first (after \\timing on), e.g. session settings.
    """

    TIME = re.compile(r"^Time: ([0-9.]+) ms")
    MSG = re.compile(r"^(psql:.*?)?(ERROR|WARNING|NOTICE|INFO|DETAIL|HINT|LINE \d+|FATAL):")

    def __init__(self, cluster, db=None, setup=()):
        self.proc = subprocess.Popen(
            [cluster.bin("psql"), "-X", "-q", "-A", "-t", "-F", "\t", "-d", db or cluster.db,
             "-v", "ON_ERROR_STOP=0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1, env=cluster.client_env())
        self.n = 0
        self.run("\\timing on")
        for s in setup:
            self.run(s)
        self.pid = int(self.value("SELECT pg_backend_pid()"))

    def run(self, sql, check=True):
        """Run sql (one or more statements / meta-commands); return
        (rows, times_ms, messages).  check: raise SQLError on an error."""
        self.n += 1
        marker = f"__ecml_bench_done_{self.n}__"
        sql = sql.rstrip()
        last = sql.splitlines()[-1].lstrip()
        if not sql.endswith(";") and not last.startswith("\\") and "\\g" not in last:
            sql += ";"
        self.proc.stdin.write(sql + "\n\\echo " + marker + "\n")
        self.proc.stdin.flush()
        rows, times, msgs = [], [], []
        while True:
            line = self.proc.stdout.readline()
            if line == "":
                raise SQLError("psql exited:\n" + "\n".join(msgs))
            line = line.rstrip("\n")
            if line == marker:
                break
            m = self.TIME.match(line)
            if m:
                times.append(float(m.group(1)))
            elif self.MSG.match(line):
                msgs.append(line)
            else:
                rows.append(line)
        if check and any(re.search(r"(ERROR|FATAL):", m) for m in msgs):
            raise SQLError(f"{sql[:300]}\n" + "\n".join(msgs))
        return rows, times, msgs

    def value(self, sql):
        rows, _, _ = self.run(sql)
        return rows[0] if rows else None

    def timed(self, sql):
        """Wall time of one statement in seconds, as psql's \\timing sees it."""
        _, times, _ = self.run(sql)
        if len(times) != 1:
            raise SQLError(f"expected one timing for: {sql[:200]}")
        return times[0] / 1000.0

    def close(self):
        try:
            self.proc.stdin.write("\\q\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()


# --------------------------------------------------------------------------
# timing and a backend's memory


def median(xs):
    return statistics.median(xs)


def status_kb(pid, field):
    """A field of /proc/pid/status in kB (None when gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid):
    """user + system CPU seconds of a process so far (/proc/pid/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

