# Ascend CANN environment for the atc and benchmark commands: `source env.sh` (bash or zsh).
# Sources <install_path>/set_env.sh, the CANN toolkit's own setup. install_path defaults to
# /usr/local/Ascend/ascend-toolkit (its set_env.sh points at latest/); set it before sourcing to use another
# installation, e.g.  install_path=/usr/local/Ascend/ascend-toolkit/latest source env.sh
# Without CANN it says so and changes nothing: every step except atc/benchmark/ais_bench runs on a plain CPU.
: "${install_path:=/usr/local/Ascend/ascend-toolkit}"
if [ -f "${install_path}/set_env.sh" ]; then
    . "${install_path}/set_env.sh"
    echo "env.sh: sourced ${install_path}/set_env.sh (CANN toolkit environment set)"
elif [ -f "${install_path}/../set_env.sh" ]; then
    . "${install_path}/../set_env.sh"
    echo "env.sh: sourced ${install_path}/../set_env.sh (CANN toolkit environment set)"
else
    echo "env.sh: no CANN toolkit at ${install_path} (no set_env.sh there); environment unchanged." \
         "atc and benchmark need CANN; on this machine use the CPU commands of README.md (../common/infer.py)." >&2
fi
