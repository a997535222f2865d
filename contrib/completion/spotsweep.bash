# bash completion for spotsweep(1) and spotsweep-agent(1).
# Installed as share/bash-completion/completions/spotsweep (bash-completion loads it on first
# use; share/bash-completion/completions/spotsweep-agent links to it), or source it from
# ~/.bashrc. Needs bash 4, not the bash-completion package. Sweep ids come from
# `spotsweep status --json`, asked only when the store already exists (completion never
# creates one) and cut off after 2 seconds.
#
# The words are taken from the line up to the cursor, split at blanks, rather than from
# COMP_WORDS, which bash also splits at ":" and "=" (URLs, HOST:PORT, times, --opt=VALUE);
# replies are then trimmed to the part after the last of those, which is what bash replaces.

_spotsweep_commands="submit serve run status trials export cancel retry cost estimate rules workers"

# The options of each command, as src/cmd-*.c defines them.
_spotsweep_opts() {
	case $1 in
	submit) echo "--dry-run --json --wandb-shim" ;;
	serve) echo "--config -c --listen -l --token-file" ;;
	run) echo "--agents -n --config -c -o --output --workdir -w --wandb-shim" ;;
	status) echo "--json --watch -w --interval -n" ;;
	trials) echo "--state --json" ;;
	export) echo "--output -o" ;;
	cancel) echo "--trial" ;;
	retry) echo "--trial" ;;
	cost) echo "--json --on-demand-price --config -c" ;;
	estimate) echo "--gpus --hours --trials --hours-per-trial --on-demand-price --spot-price" \
		"--overhead --preemption-rate --checkpoint-interval-min --restart-overhead-min --json" ;;
	rules) echo "--config -c --at --spot-price --trial-preemptions --deadline-in-h --json" ;;
	workers) echo "--all --json" ;;
	esac
	echo "--help"
}

# Whether option $2 of command $1 takes a value (the flags are in _spotsweep_opts too).
_spotsweep_takes_value() {
	case $1:$2 in
	*:--db | serve:--config | serve:-c | serve:--listen | serve:-l | serve:--token-file | \
		run:--agents | run:-n | run:--config | run:-c | run:-o | run:--output | run:--workdir | \
		run:-w | status:--interval | status:-n | trials:--state | export:--output | \
		export:-o | cancel:--trial | retry:--trial | cost:--on-demand-price | cost:--config | \
		cost:-c | estimate:--gpus | estimate:--hours | estimate:--trials | \
		estimate:--hours-per-trial | estimate:--on-demand-price | estimate:--spot-price | \
		estimate:--overhead | estimate:--preemption-rate | estimate:--checkpoint-interval-min | \
		estimate:--restart-overhead-min | rules:--config | rules:-c | rules:--at | \
		rules:--spot-price | rules:--trial-preemptions | rules:--deadline-in-h)
		return 0 ;;
	esac
	return 1
}

# A command name from a unique prefix, as spotsweep itself resolves it.
_spotsweep_resolve() {
	local c found="" n=0
	for c in $_spotsweep_commands; do
		if [[ $c == "$1" ]]; then
			echo "$c"
			return
		fi
		if [[ $c == "$1"* ]]; then
			found=$c
			n=$((n + 1))
		fi
	done
	[[ $n -eq 1 ]] && echo "$found"
}

# The ids of the sweeps in the store (DB, else $SPOTSWEEP_DB, else ./spotsweep.db).
_spotsweep_sweep_ids() {
	local db=${1:-${SPOTSWEEP_DB:-./spotsweep.db}} out
	[[ -f $db ]] || return 0
	if command -v timeout >/dev/null 2>&1; then
		out=$(timeout 2 "${_spotsweep_bin:-spotsweep}" --db "$db" status --json 2>/dev/null)
	else
		out=$("${_spotsweep_bin:-spotsweep}" --db "$db" status --json 2>/dev/null)
	fi
	[[ -n $out ]] || return 0
	grep -o '"sweep_id":[0-9]*' <<<"$out" | cut -d: -f2
}

# Sets _sw_words (the line up to the cursor, split at blanks; the last one is the word being
# completed, maybe "") from COMP_LINE, else from COMP_WORDS up to COMP_CWORD.
_spotsweep_split() {
	local line
	if [[ -n ${COMP_LINE-} ]]; then
		line=${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}
		read -ra _sw_words <<<"$line"
		if [[ -z $line || $line == *[[:space:]] ]]; then
			_sw_words+=("")
		fi
	else
		_sw_words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
		[[ ${#_sw_words[@]} -eq $((COMP_CWORD + 1)) ]] || _sw_words+=("")
	fi
}

# Trims each reply by the part of cur before the last COMP_WORDBREAKS character: bash
# replaces only what follows it.
_spotsweep_trim() {
	local cur=$1 i c cut=0
	for ((i = ${#cur} - 1; i >= 0; i--)); do
		c=${cur:i:1}
		if [[ $c != [[:space:]] && ${COMP_WORDBREAKS-} == *"$c"* ]]; then
			cut=$((i + 1))
			break
		fi
	done
	[[ $cut -gt 0 ]] || return 0
	for i in "${!COMPREPLY[@]}"; do
		COMPREPLY[i]=${COMPREPLY[i]:cut}
	done
}

# _spotsweep_reply KIND CUR [WORDS]: KIND is words, files, dirs or specs.
_spotsweep_reply() {
	local kind=$1 cur=$2 IFS=$'\n'
	case $kind in
	words)
		IFS=$' \t\n'
		COMPREPLY=($(compgen -W "$3" -- "$cur")) ;;
	files)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur")) ;;
	dirs)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -d -- "$cur")) ;;
	specs)
		# JSON and YAML specs, and directories to descend into (the pattern needs extglob)
		compopt -o filenames 2>/dev/null
		local extglob
		extglob=$(shopt -p extglob)
		shopt -s extglob
		COMPREPLY=($(compgen -d -- "$cur") $(compgen -f -X '!*.@(json|yaml|yml)' -- "$cur"))
		eval "$extglob" ;;
	esac
	_spotsweep_trim "$cur"
}

_spotsweep() {
	local _sw_words cur prev w i n cmd="" db="" nargs=0 opt=""
	_spotsweep_split
	n=${#_sw_words[@]}
	cur=${_sw_words[n - 1]}
	prev=""
	[[ $n -ge 2 ]] && prev=${_sw_words[n - 2]}
	# --opt=VALUE: complete VALUE as the value of --opt
	if [[ $cur == -*=* ]]; then
		prev=${cur%%=*}
		cur=${cur#*=}
	fi

	# The global options, then the command; count the arguments after it.
	for ((i = 1; i < n - 1; i++)); do
		w=${_sw_words[i]}
		if [[ -z $cmd ]]; then
			case $w in
			--db) db=${_sw_words[i + 1]}; i=$((i + 1)) ;;
			--db=*) db=${w#--db=} ;;
			-*) ;;
			*)
				cmd=$(_spotsweep_resolve "$w")
				[[ -n $cmd ]] || return 0 ;;
			esac
			continue
		fi
		case $w in
		--) opt=end ;;
		-*=*) ;;
		-*) [[ $opt != end ]] && _spotsweep_takes_value "$cmd" "$w" && i=$((i + 1)) ;;
		*) nargs=$((nargs + 1)) ;;
		esac
	done

	if [[ -z $cmd ]]; then
		if [[ $prev == --db ]]; then
			_spotsweep_reply files "$cur"
		elif [[ $cur == -* ]]; then
			_spotsweep_reply words "$cur" "--db --help --version"
		else
			_spotsweep_reply words "$cur" "$_spotsweep_commands"
		fi
		return 0
	fi

	# The value of the option before the cursor.
	if [[ $prev == -* ]] && _spotsweep_takes_value "$cmd" "$prev"; then
		case $prev in
		--config | -c | --token-file | -o | --output | --db)
			_spotsweep_reply files "$cur" ;;
		--workdir | -w)
			_spotsweep_reply dirs "$cur" ;;
		--state)
			_spotsweep_reply words "$cur" \
				"pending running succeeded pruned abandoned cancelled" ;;
		--listen | -l)
			_spotsweep_reply words "$cur" "127.0.0.1:8470 0.0.0.0:8470 127.0.0.1:0" ;;
		esac
		return 0
	fi

	if [[ $cur == -* ]]; then
		_spotsweep_reply words "$cur" "$(_spotsweep_opts "$cmd")"
		return 0
	fi
	[[ $nargs -eq 0 ]] || return 0
	case $cmd in
	submit | run)
		_spotsweep_reply specs "$cur" ;;
	status | trials | export | cost | cancel)
		_spotsweep_reply words "$cur" "$(_spotsweep_sweep_ids "$db")" ;;
	rules)
		_spotsweep_reply words "$cur" "explain" ;;
	esac
	return 0
}

_spotsweep_agent() {
	local _sw_words cur prev n
	_spotsweep_split
	n=${#_sw_words[@]}
	cur=${_sw_words[n - 1]}
	prev=""
	[[ $n -ge 2 ]] && prev=${_sw_words[n - 2]}
	if [[ $cur == -*=* ]]; then
		prev=${cur%%=*}
		cur=${cur#*=}
	fi
	case $prev in
	--token-file | --notice-file)
		_spotsweep_reply files "$cur" ;;
	--workdir)
		_spotsweep_reply dirs "$cur" ;;
	--server)
		_spotsweep_reply words "$cur" "http://127.0.0.1:8470" ;;
	--notice-url)
		# AWS (allowing IMDSv1: see spotsweep-agent(1)), GCP, Azure
		_spotsweep_reply words "$cur" \
			"http://169.254.169.254/latest/meta-data/spot/instance-action
http://metadata.google.internal/computeMetadata/v1/instance/preempted
http://169.254.169.254/metadata/scheduledevents?api-version=2020-07-01" ;;
	--pool | --name | --slots | --grace-s | --idle-exit-s) ;;
	*)
		_spotsweep_reply words "$cur" "--server --token-file --pool --name --slots --workdir
--notice-url --notice-file --grace-s --once --idle-exit-s --stdio --help --version" ;;
	esac
	return 0
}

complete -F _spotsweep spotsweep
complete -F _spotsweep_agent spotsweep-agent
