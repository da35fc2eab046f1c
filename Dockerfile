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

# The pinned dependencies get their own layer, rebuilt only when pyproject.toml changes.
# pip cannot install just the dependencies of a setuptools project, so read them with tomllib.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY README.md ./
COPY shared/ shared/
COPY services/ services/
COPY devstack/ devstack/
# The source tree is removed after installing, so the services import from site-packages
# exactly what the wheel holds (lua scripts included), never a stray file from the context.
RUN pip install --no-cache-dir . \
 && rm -rf /src

WORKDIR /app
USER 10001:10001
EXPOSE 8000 8080
