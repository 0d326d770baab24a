# The DESA pipeline image. `desa serve`, the Dask scheduler and workers, the report server and
# (built with TORCH_VARIANT=cu128) the GPU training worker all run from it: Dask requires the
# client, scheduler and workers to share one Python environment.
FROM python:3.11-slim-bookworm

# cpu (default) or a CUDA build such as cu128: the folder of PyTorch's index to install from.
ARG TORCH_VARIANT=cpu

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first, from the variant's index: `pip install .` then finds torch==2.13.0 already
# satisfied and keeps this build instead of PyPI's.
RUN pip install --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" "torch==2.13.0"

WORKDIR /app
# Only what the wheel needs, so edits to tests or docs do not invalidate this layer.
COPY pyproject.toml README.md ./
COPY desa ./desa
COPY catalogs ./catalogs
COPY storage ./storage
COPY flows ./flows
COPY bench ./bench
RUN pip install . && rm -rf build ./*.egg-info

# Non-root. /data is created here so that a new named volume mounted on it is owned by desa.
RUN useradd --create-home --uid 1000 desa && mkdir -p /data && chown desa:desa /data
ENV DESA_DATA_ROOT=/data \
    PREFECT_HOME=/home/desa/.prefect
USER desa

ENTRYPOINT []
CMD ["desa", "serve"]
