%% An idle supervised worker for otp_sup_bench: a gen_server whose state is its index.
%% Its start function (init/1) reads the crash stamp left by the instance it replaces, so the
%% measured latency runs from "just before the crash" to "replacement inside its start function".
-module(otp_sup_bench_worker).
-behaviour(gen_server).

-export([start_link/1]).
-export([init/1, handle_call/3, handle_cast/2]).

start_link(I) ->
    gen_server:start_link(?MODULE, I, []).

init(I) ->
    case ets:take(otp_sup_bench, stamp) of
        [{stamp, T0}] ->
            Lat = erlang:monotonic_time(nanosecond) - T0,
            otp_sup_bench ! {restarted, I, self(), Lat};
        [] ->
            ok
    end,
    {ok, I}.

handle_call(_Req, _From, I) ->
    {reply, ok, I}.

%% Stamp, then crash (abnormal exit, so the permanent child is restarted).
handle_cast(crash, I) ->
    ets:insert(otp_sup_bench, {stamp, erlang:monotonic_time(nanosecond)}),
    {stop, crash, I}.
