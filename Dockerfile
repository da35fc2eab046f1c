# One image for every Newswire process; docker-compose.yml gives each service its command.
FROM python:3.11.16-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NEWSWIRE_ARTIFACT_DIR=/var/lib/newswire/artifacts

# A fixed uid, so files in the shared artifacts volume have the same owner in every container
# and across rebuilds. Docker copies the directory's ownership into a fresh named volume.
RUN groupadd --system --gid 10001 newswire \
 && useradd --system --uid 10001 --gid newswire --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin newswire \
 && install -d -o newswire -g newswire -m 0755 /var/lib/newswire/artifacts

WORKDIR /src

# The dependencies get their own layer, rebuilt only when the lock changes: every runtime
# dependency, transitive ones too, at the version the tests ran and with its hashes checked
# (`make lock` writes the file; `make venv` installs the same one).
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock \
 && rm requirements.lock

COPY pyproject.toml README.md ./
COPY shared/ shared/
COPY services/ services/
COPY devstack/ devstack/
# The source tree is removed after installing, so the services import from site-packages
# exactly what the wheel holds (lua scripts included), never a stray file from the context.
RUN pip install --no-cache-dir --no-deps . \
 && pip check \
 && rm -rf /src

WORKDIR /app
USER 10001:10001
EXPOSE 8000 8080
