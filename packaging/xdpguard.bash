# bash completion for xdpguard(8): subcommands, their options, interface
# names, network namespaces for -n, files for --config and the like.
# Packaging.CompletionKnowsEverySubcommand checks the lists against the
# binary's --help.

_xdpguard_ifaces() {
  local ns=$1
  if [[ -n $ns ]]; then
    ip -n "$ns" -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1
  else
    ls /sys/class/net 2>/dev/null
  fi
}

_xdpguard() {
  local cur prev words cword
  _init_completion || return
  local commands="attach apply run upgrade detach status gc stats demo rule set gen blocked synproxy events capture metrics top talkers flood simulate confirm xsk flowspec"
  local -A subs=(
    [rule]="add del list plan"
    [set]="load list del"
    [blocked]="list del never"
    [synproxy]="enable disable status"
  )
  local -A opts=(
    [attach]="--mode --config --default --limit-buckets --block-entries --confirm --force"
    [apply]="--config --check --diff --prune --confirm --force"
    [run]="--config --metrics --events --events-max-bytes --detach-on-exit"
    [simulate]="--config --iface --iface-section --pcap -w --dropped --json --quiet"
    [confirm]="--status --json"
    [rule]="--before --confirm --force --json --dump"
    [set]="--confirm --force --json"
    [upgrade]="--check --force --json"
    [status]="--json --all"
    [gc]="--json"
    [stats]="--json"
    [demo]="--seconds --generic"
    [events]="--json --count --duration --snaplen"
    [capture]="-w --count --duration --snaplen --verdicts"
    [metrics]="--listen --once"
    [top]="--once --interval"
    [xsk]="--queue --count --duration -w --write --snaplen --forward --dst-mac --reinject --mode --json"
    [flowspec]="--exabgp --gobgp --position --max-rules --stale-time --state --management --no-lockout-guard"
  )
  local ns="" cmd="" sub="" i
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      -n | --netns) ns=${words[i + 1]}; ((i++)) ;;
      --wait) ((i++)) ;;
      -*) ;;
      *)
        if [[ -z $cmd ]]; then
          cmd=${words[i]}
        elif [[ -z $sub && -n ${subs[$cmd]:-} ]]; then
          sub=${words[i]}
        fi
        ;;
    esac
  done
  case $prev in
    -n | --netns) COMPREPLY=($(compgen -W "$(ip netns list 2>/dev/null | awk '{print $1}')" -- "$cur")); return ;;
    --config | --events | -w | --pcap | --dropped) _filedir; return ;;
    --mode)
      if [[ $cmd == xsk ]]; then
        COMPREPLY=($(compgen -W "auto copy zero-copy" -- "$cur"))
      else
        COMPREPLY=($(compgen -W "native generic auto" -- "$cur"))
      fi
      return
      ;;
    --forward) COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")); return ;;
    --default) COMPREPLY=($(compgen -W "pass drop" -- "$cur")); return ;;
    --position) COMPREPLY=($(compgen -W "after-local before-local" -- "$cur")); return ;;
    --state) _filedir; return ;;
  esac
  if [[ -z $cmd ]]; then
    COMPREPLY=($(compgen -W "$commands -n --netns -v --verbose --wait --help --help-all --version" -- "$cur"))
    return
  fi
  if [[ -n ${subs[$cmd]:-} && -z $sub ]]; then
    COMPREPLY=($(compgen -W "${subs[$cmd]}" -- "$cur"))
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "${opts[$cmd]:-} --help" -- "$cur"))
    return
  fi
  # talkers and flood: IFACE, then what to do.
  if [[ $cmd == talkers || $cmd == flood ]] && ((cword >= 3)) && [[ ${words[cword - 2]} == "$cmd" ]]; then
    COMPREPLY=($(compgen -W "$([[ $cmd == talkers ]] && echo on off show || echo show set off)" -- "$cur"))
    return
  fi
  COMPREPLY=($(compgen -W "$(_xdpguard_ifaces "$ns")" -- "$cur"))
}
complete -F _xdpguard xdpguard
