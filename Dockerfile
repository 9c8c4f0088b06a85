# vibot, CPU image: the daemon with its web UI, or a Ray worker (docs/scale.md).
#
#   docker build -t vibot .
#   docker build -t vibot:cuda --build-arg BASE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 \
#       --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .
#
# The CUDA build needs a base with Python 3.11 or newer (apt-get install python3.11 on
# Ubuntu's images) and the NVIDIA container toolkit on the host (docker run --gpus all).
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    VIBOT_HOME=/var/lib/vibot VIBOT_PERSONAS_DIR=/etc/vibot/personas HF_HUB_OFFLINE=1

# ffmpeg (ffprobe: the reel spec check), exiftool (XMP disclosure).
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ffmpeg libimage-exiftool-perl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/vibot
# torch first and pinned, from the index that matches the image: an unpinned torch pulled in
# by another package is a multi-GB CUDA build.
RUN pip install --index-url "${TORCH_INDEX}" torch==2.14.1 torchvision==0.29.1
COPY pyproject.toml README.md ./
COPY bot bot
COPY content content
COPY storage storage
RUN pip install ".[local,postgres,s3,ray]" torch==2.14.1 torchvision==0.29.1 \
 && pip install --no-deps "invisible-watermark==0.2.0" "moviepy==2.2.1"

RUN useradd --system --home-dir /var/lib/vibot --create-home vibot
USER vibot
EXPOSE 8080
# The daemon with its web UI; a Ray worker runs `ray start --address=HEAD:6379 --block`.
CMD ["vibot", "daemon"]
