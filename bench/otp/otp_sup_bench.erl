%% Erlang/OTP side of scripts/bench-supervision-vs-otp.sh (issue 14): restart latency and idle
%% memory per child of a one_for_one `supervisor` with N idle gen_server children. Our side is
%% actors/examples/supervision_vs_otp.rs; both follow the same steps and print one RESULT line:
%%  1. an empty one_for_one supervisor (intensity 1e9 in 1 s, so it never melts down);
%%     memory baseline (OS RSS of the BEAM and erlang:memory/1);
%%  2. N children added with start_child (permanent, shutdown 5000); memory again;
%%  3. W warm-up and R measured restarts of random children, one at a time: the victim stamps
%%     monotonic time in an ETS table and crashes, its replacement reads the stamp in init/1.
%% Logging is off (logger level none), as our side reports to a no-op event sink.
%% Run: erl -noshell -pa DIR -run otp_sup_bench main N R Seed
-module(otp_sup_bench).
-behaviour(supervisor).

-export([main/1]).
-export([init/1]).

-define(WARMUP, 100).

main([NArg, RArg, SeedArg]) ->
    N = list_to_integer(NArg),
    Restarts = list_to_integer(RArg),
    rand:seed(exsss, list_to_integer(SeedArg)),
    ok = logger:set_primary_config(level, none),
    register(otp_sup_bench, self()),
    process_flag(trap_exit, true),
    otp_sup_bench = ets:new(otp_sup_bench, [named_table, public, set]),
    {ok, Sup} = supervisor:start_link(?MODULE, []),
    settle(),
    {Rss0, Procs0, Total0} = memory(),
    T0 = erlang:monotonic_time(microsecond),
    add_children(Sup, 1, N),
    SpawnUs = erlang:monotonic_time(microsecond) - T0,
    settle(),
    {Rss1, Procs1, Total1} = memory(),
    Pids = maps:from_list([{I, P} || {I, P, _, _} <- supervisor:which_children(Sup)]),
    {Pids1, _} = restarts(?WARMUP, N, Pids, []),
    {_, Lats} = restarts(Restarts, N, Pids1, []),
    Sorted = lists:sort(Lats),
    Pct = fun(Q) -> lists:nth(round((length(Sorted) - 1) * Q) + 1, Sorted) end,
    PerChild = fun(A, B) -> round((B - A) / N) end,
    io:format("RESULT system=otp otp=~s children=~b restarts=~b p50_us=~.1f p99_us=~.1f "
              "max_us=~.1f rss_b_per_child=~b vm_processes_b_per_child=~b "
              "vm_total_b_per_child=~b spawn_s=~.2f~n",
              [erlang:system_info(otp_release), N, Restarts,
               Pct(0.50) / 1000, Pct(0.99) / 1000, lists:last(Sorted) / 1000,
               PerChild(Rss0, Rss1), PerChild(Procs0, Procs1), PerChild(Total0, Total1),
               SpawnUs / 1.0e6]),
    halt(0).

init([]) ->
    {ok, {#{strategy => one_for_one, intensity => 1000000000, period => 1}, []}}.

add_children(_Sup, I, N) when I > N ->
    ok;
add_children(Sup, I, N) ->
    Spec = #{id => I, start => {otp_sup_bench_worker, start_link, [I]}, shutdown => 5000},
    {ok, _} = supervisor:start_child(Sup, Spec),
    add_children(Sup, I + 1, N).

%% K restarts of random children, one at a time; returns the updated pid map and the latencies
%% (ns), as measured by the replacements.
restarts(0, _N, Pids, Lats) ->
    {Pids, Lats};
restarts(K, N, Pids, Lats) ->
    I = rand:uniform(N),
    gen_server:cast(maps:get(I, Pids), crash),
    receive
        {restarted, I, Pid, Lat} -> restarts(K - 1, N, Pids#{I := Pid}, [Lat | Lats])
    after 30000 ->
        erlang:error({no_restart, I})
    end.

%% Lets the allocators and schedulers go quiet before a memory reading.
settle() ->
    erlang:garbage_collect(),
    timer:sleep(1000).

%% {OS resident set of the BEAM, erlang:memory(processes), erlang:memory(total)}, bytes.
memory() ->
    {ok, Statm} = file:read_file("/proc/self/statm"),
    [_Size, Resident | _] = binary:split(Statm, <<" ">>, [global]),
    {binary_to_integer(Resident) * 4096, erlang:memory(processes), erlang:memory(total)}.
