# Warning and hardening flags shared by every target (see docs/STYLE notes).
set(TITAN_WARNINGS -Wall -Wextra -Wformat=2 -Wshadow -Wnon-virtual-dtor
    -Wconversion -Wno-sign-conversion)
if(TITAN_WERROR)
  list(APPEND TITAN_WARNINGS -Werror)
endif()
add_compile_options(-fstack-protector-strong -fPIE)
add_compile_definitions($<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
add_link_options(-pie -Wl,-z,relro,-z,now)
if(TITAN_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# titan_target(NAME): apply the project's warning flags to a target.
function(titan_target name)
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${TITAN_WARNINGS}>)
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR})
endfunction()
