# One image for both programs: `kube2sky ...` and `skydns ...`.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY skydns ./skydns
COPY skydns_common ./skydns_common
COPY skydnsctl ./skydnsctl
COPY kube2sky ./kube2sky
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home skydns
COPY --from=build /wheels /wheels
# Port 53 without root: the interpreter gets CAP_NET_BIND_SERVICE as a file
# capability (libcap2-bin is removed again; the capability stays on the file).
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && apt-get update && apt-get install -y --no-install-recommends libcap2-bin \
    && setcap cap_net_bind_service=+ep "$(readlink -f /usr/local/bin/python3)" \
    && apt-get purge -y libcap2-bin && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
USER 10001
EXPOSE 53/udp 53/tcp 8080 8081
ENTRYPOINT []
CMD ["skydns", "--help"]
